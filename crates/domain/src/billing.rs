//! When a migrated subscription starts being billed here (docs/import-customers.md).
//!
//! Microsoft invoices a licence subscription at the start of each billing period, in advance.
//! A subscription brought in from Partner Center keeps its entitlement (start) date, and its
//! billing starts where the period Microsoft has already invoiced on the day of the import
//! ends — so no period is billed twice:
//!
//! 1. When Partner Center gives the current period's end (`billingCycleEndDate`, inclusive) and
//!    it is not in the past, billing starts the day after it.
//! 2. Otherwise periods are counted from the start date by the billing cycle (one, twelve,
//!    twenty-four or thirty-six months; a start on the 29th–31st falls on the last day of
//!    shorter months, and comes back to its day when the month has it). The period holding the
//!    import day — one beginning that day included, for it was invoiced that morning — was
//!    invoiced; billing starts when the next one begins.
//! 3. A subscription that starts after the import day was never invoiced: billing starts with
//!    it. One billed by usage or once (no recurring cycle) starts billing on the import day.
//!
//! The term does not enter: a three-year term billed monthly is invoiced a month at a time.

use time::{Date, Month};

/// How often Partner Center invoices a subscription (its `billingCycle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillingCycle {
    Monthly,
    Annual,
    Biennial,
    Triennial,
    /// Usage, one-time purchases and anything without a recurring period.
    NotRecurring,
}

impl BillingCycle {
    /// Reads Partner Center's value, in any case; an unknown one is not recurring.
    pub fn parse(text: &str) -> BillingCycle {
        match text.trim().to_ascii_lowercase().as_str() {
            "monthly" => BillingCycle::Monthly,
            "annual" => BillingCycle::Annual,
            "biennial" => BillingCycle::Biennial,
            "triennial" => BillingCycle::Triennial,
            _ => BillingCycle::NotRecurring,
        }
    }

    fn months(self) -> Option<u32> {
        match self {
            BillingCycle::Monthly => Some(1),
            BillingCycle::Annual => Some(12),
            BillingCycle::Biennial => Some(24),
            BillingCycle::Triennial => Some(36),
            BillingCycle::NotRecurring => None,
        }
    }
}

/// The day billing of a migrated subscription begins, imported on `today`.
pub fn billing_start(
    start: Date,
    cycle: BillingCycle,
    period_end: Option<Date>,
    today: Date,
) -> Date {
    if let Some(end) = period_end.filter(|end| *end >= today)
        && let Some(next) = end.next_day()
    {
        return next;
    }
    if start > today {
        return start;
    }
    let Some(months) = cycle.months() else {
        return today;
    };
    // The first period boundary after today: whole periods from the start, each counted from
    // the start itself so a month-end start keeps its day.
    let elapsed = months_between(start, today) / months;
    let mut periods = elapsed;
    loop {
        let boundary = add_months(start, periods * months);
        if boundary > today {
            return boundary;
        }
        periods += 1;
    }
}

/// Whole calendar months from `from` to `to` by month number alone (a lower bound of the
/// periods elapsed).
fn months_between(from: Date, to: Date) -> u32 {
    let months = (to.year() - from.year()) * 12 + i32::from(u8::from(to.month()))
        - i32::from(u8::from(from.month()));
    u32::try_from(months.saturating_sub(1)).unwrap_or(0)
}

/// `date` moved on by `months`, on the same day of the month or the month's last day.
fn add_months(date: Date, months: u32) -> Date {
    let index =
        i64::from(date.year()) * 12 + i64::from(u8::from(date.month())) - 1 + i64::from(months);
    let year = i32::try_from(index.div_euclid(12)).unwrap_or(i32::MAX);
    let month = Month::try_from(u8::try_from(index.rem_euclid(12) + 1).unwrap_or(1))
        .unwrap_or(Month::January);
    let day = date.day().min(month.length(year));
    Date::from_calendar_date(year, month, day).unwrap_or(date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn billing_starts_after_the_period_microsoft_invoiced() {
        use BillingCycle::*;
        // (case, start, cycle, Partner Center's period end, import day, billing start)
        let cases = [
            (
                "monthly, mid-period",
                date!(2025 - 03 - 10),
                Monthly,
                None,
                date!(2026 - 11 - 30),
                date!(2026 - 12 - 10),
            ),
            (
                "annual, mid-term",
                date!(2025 - 03 - 10),
                Annual,
                None,
                date!(2026 - 11 - 30),
                date!(2027 - 03 - 10),
            ),
            (
                "annual term billed monthly",
                date!(2026 - 01 - 15),
                Monthly,
                None,
                date!(2026 - 11 - 30),
                date!(2026 - 12 - 15),
            ),
            (
                "triennial term billed monthly",
                date!(2024 - 06 - 02),
                Monthly,
                None,
                date!(2026 - 11 - 30),
                date!(2026 - 12 - 02),
            ),
            (
                "triennial term billed triennially",
                date!(2024 - 06 - 02),
                Triennial,
                None,
                date!(2026 - 11 - 30),
                date!(2027 - 06 - 02),
            ),
            (
                "biennial",
                date!(2025 - 12 - 01),
                Biennial,
                None,
                date!(2026 - 11 - 30),
                date!(2027 - 12 - 01),
            ),
            (
                "imported on the anniversary: that period is invoiced already",
                date!(2024 - 11 - 30),
                Annual,
                None,
                date!(2026 - 11 - 30),
                date!(2027 - 11 - 30),
            ),
            (
                "imported on the monthly boundary",
                date!(2026 - 01 - 30),
                Monthly,
                None,
                date!(2026 - 11 - 30),
                date!(2026 - 12 - 30),
            ),
            (
                "started on the 31st: the shorter month's last day",
                date!(2026 - 01 - 31),
                Monthly,
                None,
                date!(2026 - 02 - 10),
                date!(2026 - 02 - 28),
            ),
            (
                "started on the 31st: back to its day when the month has it",
                date!(2026 - 01 - 31),
                Monthly,
                None,
                date!(2026 - 03 - 05),
                date!(2026 - 03 - 31),
            ),
            (
                "started on the 30th, imported in February",
                date!(2025 - 11 - 30),
                Monthly,
                None,
                date!(2026 - 02 - 01),
                date!(2026 - 02 - 28),
            ),
            (
                "started on the 29th, leap February",
                date!(2027 - 12 - 29),
                Monthly,
                None,
                date!(2028 - 02 - 01),
                date!(2028 - 02 - 29),
            ),
            (
                "started on a leap day, annual: the 28th in common years",
                date!(2024 - 02 - 29),
                Annual,
                None,
                date!(2026 - 11 - 30),
                date!(2027 - 02 - 28),
            ),
            (
                "started on a leap day, annual: the 29th in the next leap year",
                date!(2024 - 02 - 29),
                Annual,
                None,
                date!(2027 - 03 - 01),
                date!(2028 - 02 - 29),
            ),
            (
                "started today: its first period is invoiced",
                date!(2026 - 11 - 30),
                Monthly,
                None,
                date!(2026 - 11 - 30),
                date!(2026 - 12 - 30),
            ),
            (
                "starts after the import: never invoiced",
                date!(2026 - 12 - 05),
                Annual,
                None,
                date!(2026 - 11 - 30),
                date!(2026 - 12 - 05),
            ),
            (
                "Partner Center's period end decides",
                date!(2025 - 03 - 10),
                Monthly,
                Some(date!(2026 - 12 - 09)),
                date!(2026 - 11 - 30),
                date!(2026 - 12 - 10),
            ),
            (
                "a period end ending today: billing starts tomorrow",
                date!(2025 - 03 - 10),
                Annual,
                Some(date!(2026 - 11 - 30)),
                date!(2026 - 11 - 30),
                date!(2026 - 12 - 01),
            ),
            (
                "a period end in the past is stale: counted from the start",
                date!(2025 - 03 - 10),
                Monthly,
                Some(date!(2025 - 04 - 09)),
                date!(2026 - 11 - 30),
                date!(2026 - 12 - 10),
            ),
            (
                "usage: billed from the import day",
                date!(2023 - 05 - 01),
                NotRecurring,
                None,
                date!(2026 - 11 - 30),
                date!(2026 - 11 - 30),
            ),
        ];
        for (case, start, cycle, period_end, today, expected) in cases {
            assert_eq!(
                billing_start(start, cycle, period_end, today),
                expected,
                "{case}"
            );
        }
    }

    #[test]
    fn billing_cycles_are_read_in_any_case() {
        assert_eq!(BillingCycle::parse("Annual"), BillingCycle::Annual);
        assert_eq!(BillingCycle::parse(" MONTHLY"), BillingCycle::Monthly);
        assert_eq!(BillingCycle::parse("one_time"), BillingCycle::NotRecurring);
        assert_eq!(BillingCycle::parse("none"), BillingCycle::NotRecurring);
    }
}
