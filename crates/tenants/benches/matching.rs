//! Pending Companies' matching: how often its first suggestion is right, on the labelled
//! tenants and companies kept beside this file (`labelled/`), next to matching by exact name
//! only, measured in the same run.
//!
//!     cargo bench -p ferry-tenants --bench matching
//!
//! `labelled/tenants.csv` says which company each tenant truly is (`truth`, the company's
//! `key`), or none. Precision: of the first suggestions made, how many are right. Recall: of
//! the tenants that have a company, how many get it as their first suggestion.

use std::collections::HashMap;

use ferry_domain::matching::{Domain, DomainKind, Party, email_domain};
use ferry_storage::CandidateCompany;
use ferry_tenants::suggestions::Suggester;

fn main() {
    let companies = rows(include_str!("labelled/companies.csv"), 5);
    let tenants = rows(include_str!("labelled/tenants.csv"), 6);
    let keys: HashMap<i64, &str> = companies
        .iter()
        .enumerate()
        .map(|(n, c)| (n as i64 + 1, c[0]))
        .collect();
    let candidates: Vec<CandidateCompany> = companies
        .iter()
        .enumerate()
        .map(|(n, c)| CandidateCompany {
            id: n as i64 + 1,
            name: c[1].to_owned(),
            email: some(c[2]),
            website: some(c[3]),
            country: some(c[4]),
        })
        .collect();

    let mut suggester = Suggester::default();
    for t in &tenants {
        suggester.add(tenant_party(t));
    }
    for company in &candidates {
        suggester.offer(company);
    }
    let ferry: Vec<Option<&str>> = suggester
        .finish()
        .iter()
        .map(|s| s.first().map(|m| keys[&m.id]))
        .collect();
    let exact: Vec<Option<&str>> = tenants
        .iter()
        .map(|t| {
            candidates
                .iter()
                .find(|c| c.name.trim().eq_ignore_ascii_case(t[0].trim()))
                .map(|c| keys[&c.id])
        })
        .collect();

    let truth: Vec<Option<&str>> = tenants.iter().map(|t| some_str(t[5])).collect();
    println!(
        "labelled set: {} tenants ({} with a company), {} companies",
        tenants.len(),
        truth.iter().flatten().count(),
        companies.len()
    );
    report("Ferry's matching", &ferry, &truth);
    report("exact name only", &exact, &truth);
    for (n, (got, want)) in ferry.iter().zip(&truth).enumerate() {
        if got != want {
            println!(
                "  Ferry: {:<45} suggested {:<18} truth {}",
                tenants[n][0],
                got.unwrap_or("nothing"),
                want.unwrap_or("none")
            );
        }
    }
}

fn report(label: &str, first: &[Option<&str>], truth: &[Option<&str>]) {
    let made = first.iter().flatten().count();
    let right = first
        .iter()
        .zip(truth)
        .filter(|(got, want)| got.is_some() && got == want)
        .count();
    let matchable = truth.iter().flatten().count();
    println!(
        "{label:<18} first suggestions {made:>3}, right {right:>3}: precision {:.3}, recall {:.3}",
        right as f64 / made.max(1) as f64,
        right as f64 / matchable.max(1) as f64
    );
}

/// A tenant row as the snapshot would hold it.
fn tenant_party(t: &[&str]) -> Party {
    let mut domains = vec![Domain::new(DomainKind::OnMicrosoft, t[1])];
    domains.extend(
        t[2].split(';')
            .filter(|d| !d.is_empty())
            .map(|d| Domain::new(DomainKind::Custom, d)),
    );
    domains.extend(email_domain(t[3]).map(|d| Domain::new(DomainKind::Email, &d)));
    Party {
        name: t[0].to_owned(),
        domains,
        country: some(t[4]),
        tenant_ids: Vec::new(),
    }
}

/// The rows of a small CSV without quoted fields, its header left out.
fn rows(text: &'static str, columns: usize) -> Vec<Vec<&'static str>> {
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            assert_eq!(cells.len(), columns, "a labelled row has {columns} cells: {line}");
            cells
        })
        .collect()
}

fn some(cell: &str) -> Option<String> {
    some_str(cell).map(str::to_owned)
}

fn some_str(cell: &str) -> Option<&str> {
    Some(cell.trim()).filter(|c| !c.is_empty())
}
