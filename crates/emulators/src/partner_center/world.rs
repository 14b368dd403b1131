//! What the Partner Center emulator knows: the partner, its indirect resellers, its customers
//! with their billing profiles, subscriptions and users — built deterministically from a seed.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize, Serializer};

use crate::rng::Rng;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    pub country: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub city: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    pub address_line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_line2: Option<String>,
    pub postal_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    pub phone_number: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BillingProfile {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub culture: String,
    pub language: String,
    pub company_name: String,
    pub default_address: Address,
}

/// Which kind of subscription, which decides its shape on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Legacy Office 365 / Dynamics, licence-based, offer id a GUID.
    LegacyOffice,
    /// New commerce, licence-based, offer id `PRODUCT:SKU:AVAILABILITY`.
    NewCommerce,
    /// Legacy Azure, `MS-AZR-0145P`, usage-based.
    LegacyAzure,
    /// New commerce Azure plan, with Azure entitlements beneath it.
    AzurePlan,
    /// A legacy add-on, child of another subscription.
    AddOn,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AzureEntitlement {
    pub id: String,
    pub friendly_name: String,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub id: String,
    pub family: Family,
    pub offer_id: String,
    pub offer_name: String,
    pub friendly_name: String,
    pub quantity: u32,
    pub creation_date: String,
    pub effective_start_date: String,
    pub commitment_end_date: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancellation_allowed_until_date: Option<String>,
    pub billing_cycle: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term_duration: Option<String>,
    /// active, suspended, expired, disabled, deleted or pending.
    pub status: String,
    pub auto_renew_enabled: bool,
    pub is_trial: bool,
    /// The reseller of record's MPN id; empty for direct sales.
    pub partner_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_subscription_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entitlement_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub azure_entitlements: Vec<AzureEntitlement>,
    pub order_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub user_principal_name: String,
    pub first_name: String,
    pub last_name: String,
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_location: Option<String>,
    /// active, or inactive for a soft-deleted user.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft_deletion_time: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    /// The customer's tenant id.
    pub id: String,
    pub commerce_id: String,
    pub company_name: String,
    /// The initial `*.onmicrosoft.com` domain.
    pub domain: String,
    pub address: Address,
    pub email: String,
    pub billing_profile: BillingProfile,
    /// Whether the partner holds delegated access; without it address, email and custom
    /// domains are not returned.
    pub allow_delegated_access: bool,
    pub custom_domains: Vec<String>,
    /// The tenant id of the indirect reseller the customer belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub associated_partner_id: Option<String>,
    #[serde(default)]
    pub subscriptions: Vec<Subscription>,
    #[serde(default)]
    pub users: Vec<User>,
    /// For a generated customer, how to generate its subscriptions and users again: they are
    /// not kept, which keeps a world of 100,000 customers small.
    #[serde(skip)]
    lazy: Option<Lazy>,
}

#[derive(Debug, Clone, PartialEq)]
struct Lazy {
    seed: u64,
    n: usize,
    resellers: Arc<[Reseller]>,
    users: (usize, usize),
}

impl Customer {
    /// The customer with its subscriptions and users.
    pub fn full(&self) -> Cow<'_, Customer> {
        match &self.lazy {
            None => Cow::Borrowed(self),
            Some(lazy) => Cow::Owned(customer_at(lazy.seed, lazy.n, &lazy.resellers, lazy.users)),
        }
    }

    /// Keeps the subscriptions and users from now on, so they can be changed.
    fn materialize(&mut self) {
        if let Some(lazy) = self.lazy.take() {
            let full = customer_at(lazy.seed, lazy.n, &lazy.resellers, lazy.users);
            self.subscriptions = full.subscriptions;
            self.users = full.users;
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reseller {
    /// The reseller's tenant id.
    pub id: String,
    pub name: String,
    pub mpn_id: String,
    pub location: String,
    pub state: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct World {
    pub partner_tenant_id: String,
    pub resellers: Vec<Reseller>,
    #[serde(serialize_with = "serialize_full")]
    pub customers: Vec<Customer>,
    #[serde(skip)]
    index: HashMap<String, usize>,
}

/// Customers as the world holds them, subscriptions and users included.
fn serialize_full<S: Serializer>(customers: &[Customer], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(customers.iter().map(|c| c.full()))
}

impl World {
    /// A customer with its subscriptions and users.
    pub fn customer(&self, id: &str) -> Option<Cow<'_, Customer>> {
        self.index
            .get(&id.to_ascii_lowercase())
            .map(|i| self.customers[*i].full())
    }

    /// A customer to change, subscriptions and users included.
    pub fn customer_mut(&mut self, id: &str) -> Option<&mut Customer> {
        let i = *self.index.get(&id.to_ascii_lowercase())?;
        let customer = &mut self.customers[i];
        customer.materialize();
        Some(customer)
    }

    pub fn reseller(&self, id: &str) -> Option<&Reseller> {
        self.resellers
            .iter()
            .find(|r| r.id.eq_ignore_ascii_case(id))
    }

    /// Adds a customer; `false` when one with the same id exists.
    pub fn add_customer(&mut self, mut customer: Customer) -> bool {
        customer.id = customer.id.to_ascii_lowercase();
        if self.index.contains_key(&customer.id) {
            return false;
        }
        self.index.insert(customer.id.clone(), self.customers.len());
        self.customers.push(customer);
        true
    }

    pub fn remove_customer(&mut self, id: &str) -> Option<Customer> {
        let i = self.index.remove(&id.to_ascii_lowercase())?;
        let removed = self.customers.remove(i);
        self.reindex();
        Some(removed)
    }

    fn reindex(&mut self) {
        self.index = self
            .customers
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.clone(), i))
            .collect();
    }

    /// Builds the world of `seed`: `customers` customers, `resellers` indirect resellers
    /// (about half the customers then belong to one), subscriptions of every family, users.
    pub fn generate(seed: u64, customers: usize, resellers: usize) -> World {
        World::generate_with_users(seed, customers, resellers, USERS_PER_CUSTOMER)
    }

    /// A world whose customers have `users.0` to `users.1` users each.
    pub fn generate_with_users(
        seed: u64,
        customers: usize,
        resellers: usize,
        users: (usize, usize),
    ) -> World {
        let mut rng = Rng::new(seed);
        let partner_tenant_id = rng.guid();
        let resellers: Vec<Reseller> = (0..resellers)
            .map(|n| {
                let mut rng = Rng::derive(seed ^ 0xA5A5, n as u64);
                Reseller {
                    id: rng.guid(),
                    name: format!("{} {}", rng.pick(RESELLER_FIRST), rng.pick(RESELLER_SECOND)),
                    mpn_id: rng.digits(7),
                    location: rng.pick(COUNTRIES).code.to_owned(),
                    state: "Active".into(),
                }
            })
            .collect();
        let resellers: Arc<[Reseller]> = resellers.into();
        let mut world = World {
            partner_tenant_id,
            customers: Vec::with_capacity(customers),
            resellers: resellers.to_vec(),
            index: HashMap::with_capacity(customers),
        };
        for n in 0..customers {
            let mut customer = customer_at(seed, n, &resellers, users);
            customer.subscriptions = Vec::new();
            customer.users = Vec::new();
            customer.lazy = Some(Lazy {
                seed,
                n,
                resellers: resellers.clone(),
                users,
            });
            world.add_customer(customer);
        }
        world
    }
}

/// How many users a customer has, unless the world is asked for more.
pub const USERS_PER_CUSTOMER: (usize, usize) = (1, 6);

/// Customer `n` of the world of `seed`, in full.
fn customer_at(seed: u64, n: usize, resellers: &[Reseller], users: (usize, usize)) -> Customer {
    // The last reseller, when there are several, has no customers at all.
    let serving = if resellers.len() > 1 {
        resellers.len() - 1
    } else {
        resellers.len()
    };
    let mut rng = Rng::derive(seed, n as u64);
    let reseller = (serving > 0 && rng.chance(0.5)).then(|| &resellers[rng.index(serving)]);
    generate_customer(&mut rng, n, reseller, users)
}

struct Country {
    code: &'static str,
    cities: &'static [(&'static str, &'static str)],
    culture: &'static str,
    phone: &'static str,
}

const COUNTRIES: &[Country] = &[
    Country {
        code: "US",
        cities: &[("Seattle", "WA"), ("Austin", "TX"), ("Denver", "CO")],
        culture: "en-US",
        phone: "+1206555",
    },
    Country {
        code: "DE",
        cities: &[("München", ""), ("Köln", ""), ("Düsseldorf", "")],
        culture: "de-DE",
        phone: "+4989555",
    },
    Country {
        code: "FR",
        cities: &[("Lyon", ""), ("Nantes", "")],
        culture: "fr-FR",
        phone: "+3347555",
    },
    Country {
        code: "GB",
        cities: &[("Leeds", ""), ("Bristol", "")],
        culture: "en-GB",
        phone: "+44113555",
    },
    Country {
        code: "JP",
        cities: &[("東京", ""), ("大阪", "")],
        culture: "ja-JP",
        phone: "+8135555",
    },
    Country {
        code: "CN",
        cities: &[("上海", ""), ("深圳", "")],
        culture: "zh-CN",
        phone: "+8621555",
    },
    Country {
        code: "GR",
        cities: &[("Αθήνα", ""), ("Θεσσαλονίκη", "")],
        culture: "el-GR",
        phone: "+30210555",
    },
    Country {
        code: "UA",
        cities: &[("Київ", ""), ("Львів", "")],
        culture: "uk-UA",
        phone: "+38044555",
    },
    Country {
        code: "AE",
        cities: &[("دبي", ""), ("أبو ظبي", "")],
        culture: "ar-AE",
        phone: "+9714555",
    },
    Country {
        code: "BR",
        cities: &[("São Paulo", "SP"), ("Curitiba", "PR")],
        culture: "pt-BR",
        phone: "+5511555",
    },
    Country {
        code: "NL",
        cities: &[("Utrecht", ""), ("Rotterdam", "")],
        culture: "nl-NL",
        phone: "+3130555",
    },
    Country {
        code: "AU",
        cities: &[("Cairns", "QLD"), ("Perth", "WA")],
        culture: "en-AU",
        phone: "+6170555",
    },
];

/// Company names in several scripts, so importers meet them as real tenants come.
const NAME_FIRST: &[&str] = &[
    "Northwind",
    "Fabrikam",
    "Contoso",
    "Adatum",
    "Litware",
    "Proseware",
    "Tailspin",
    "Wingtip",
    "Alpenglühen",
    "Müller & Söhne",
    "Éclair",
    "Nordlicht",
    "山田",
    "さくら",
    "东方",
    "长城",
    "Ακρόπολη",
    "Ολυμπία",
    "Дніпро",
    "Карпати",
    "النخيل",
    "الواحة",
    "Horizonte",
    "Maré",
];
const NAME_SECOND: &[&str] = &[
    "Traders",
    "Design",
    "Logistics",
    "Dental",
    "Architects",
    "Analytics",
    "Foods",
    "Energy",
    "GmbH",
    "SARL",
    "Ltd",
    "BV",
    "株式会社",
    "商事",
    "科技",
    "集团",
    "Α.Ε.",
    "ТОВ",
    "ذ.م.م",
    "Ltda",
];
const GIVEN: &[&str] = &[
    "Dana", "Amelia", "Jonas", "Chloé", "Hiro", "Mei", "Eleni", "Olena", "Omar", "João", "Sven",
    "Ava",
];
const FAMILY: &[&str] = &[
    "Whitfield",
    "Berg",
    "Keller",
    "Durand",
    "Tanaka",
    "Wang",
    "Papadopoulou",
    "Kovalenko",
    "Haddad",
    "Silva",
    "Larsen",
    "Evans",
];
const RESELLER_FIRST: &[&str] = &[
    "Contoso",
    "Adatum",
    "Blue Yonder",
    "Graphic",
    "Trey",
    "Woodgrove",
    "Coho",
    "Lucerne",
];
const RESELLER_SECOND: &[&str] = &[
    "IT Services",
    "Cloud BV",
    "Solutions",
    "Partners",
    "Systems AG",
];

/// Offers: (family, offer id, name).
const OFFERS: &[(Family, &str, &str)] = &[
    (
        Family::NewCommerce,
        "CFQ7TTC0LH18:0001:CFQ7TTC0K971",
        "Microsoft 365 Business Basic",
    ),
    (
        Family::NewCommerce,
        "CFQ7TTC0LDPB:0001:CFQ7TTC0K8P5",
        "Microsoft 365 Business Standard",
    ),
    (
        Family::NewCommerce,
        "CFQ7TTC0LCHC:0002:CFQ7TTC0KDN3",
        "Microsoft 365 Business Premium",
    ),
    (
        Family::NewCommerce,
        "CFQ7TTC0LF8Q:0001:CFQ7TTC0K5BZ",
        "Office 365 E3",
    ),
    (
        Family::NewCommerce,
        "CFQ7TTC0LH16:0001:CFQ7TTC0K8W3",
        "Exchange Online (Plan 1)",
    ),
    (
        Family::LegacyOffice,
        "91FD106F-4B2C-4938-95AC-F54F74E9A239",
        "Office 365 E3",
    ),
    (
        Family::LegacyOffice,
        "031C9E47-4802-4248-838E-778FB1D2CC05",
        "Microsoft 365 Business Basic",
    ),
    (
        Family::LegacyOffice,
        "195416C1-3447-423A-B37B-EE59A99A19C4",
        "Exchange Online (Plan 1)",
    ),
    (Family::LegacyAzure, "MS-AZR-0145P", "Microsoft Azure"),
    (
        Family::AzurePlan,
        "DZH318Z0BCZC:0001:DZH318Z0BXJ4",
        "Azure plan",
    ),
];
const ADD_ON: (&str, &str) = (
    "3A5D4E1C-0B7F-4D2E-9C8A-6F1E2D3C4B5A",
    "Advanced Threat Protection",
);

fn date(rng: &mut Rng, from_year: u64) -> (u64, u64, u64) {
    (
        from_year + rng.below(5),
        1 + rng.below(12),
        1 + rng.below(28),
    )
}

fn stamp((y, m, d): (u64, u64, u64), rng: &mut Rng) -> String {
    // 0 to 7 fractional digits, as the real service sends them.
    let digits = rng.below(8);
    let fraction = if digits == 0 {
        String::new()
    } else {
        let value = rng.below(10u64.pow(u32::try_from(digits).unwrap_or(1)));
        format!(
            ".{value:0width$}",
            width = usize::try_from(digits).unwrap_or(1)
        )
    };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{fraction}Z",
        rng.below(24),
        rng.below(60),
        rng.below(60)
    )
}

fn midnight((y, m, d): (u64, u64, u64)) -> String {
    format!("{y:04}-{m:02}-{d:02}T00:00:00Z")
}

fn slug(name: &str, n: usize) -> String {
    let ascii: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .take(20)
        .collect();
    if ascii.is_empty() {
        format!("tenant{n}")
    } else {
        format!("{ascii}{n}")
    }
}

fn generate_customer(
    rng: &mut Rng,
    n: usize,
    reseller: Option<&Reseller>,
    users_per_customer: (usize, usize),
) -> Customer {
    let id = rng.guid();
    let country = rng.pick(COUNTRIES);
    let (city, state) = *rng.pick(country.cities);
    let company_name = format!("{} {}", rng.pick(NAME_FIRST), rng.pick(NAME_SECOND));
    let prefix = slug(&company_name, n);
    let domain = format!("{prefix}.onmicrosoft.com");
    let custom = format!("{prefix}.example");
    let given = rng.pick(GIVEN).to_string();
    let family = rng.pick(FAMILY).to_string();
    let address = Address {
        country: country.code.into(),
        region: (!state.is_empty()).then(|| state.to_owned()),
        city: city.into(),
        state: (!state.is_empty()).then(|| state.to_owned()),
        address_line1: format!("{} Harbour Street", 1 + rng.below(400)),
        address_line2: rng
            .chance(0.3)
            .then(|| format!("Suite {}", 100 + rng.below(900))),
        postal_code: format!("{:05}", rng.below(99_999)),
        first_name: None,
        last_name: None,
        phone_number: format!("{}{:04}", country.phone, rng.below(10_000)),
    };
    let billing_profile = BillingProfile {
        id: rng.guid(),
        first_name: given.clone(),
        last_name: family.clone(),
        email: format!("billing@{custom}"),
        culture: country.culture.into(),
        language: country.culture[..2].into(),
        company_name: company_name.clone(),
        default_address: Address {
            first_name: Some(given.clone()),
            last_name: Some(family.clone()),
            ..address.clone()
        },
    };
    let allow_delegated_access = !rng.chance(0.08);
    let mut custom_domains = vec![domain.clone()];
    if rng.chance(0.7) {
        custom_domains.push(custom.clone());
    }
    let mut subscriptions = Vec::new();
    // One tenant in ten has no subscription at all.
    let count = if rng.chance(0.1) { 0 } else { 1 + rng.below(5) };
    for _ in 0..count {
        subscriptions.extend(generate_subscriptions(rng, reseller));
    }
    let mut users = Vec::new();
    let (fewest, most) = users_per_customer;
    let spread = u64::try_from(most.saturating_sub(fewest)).unwrap_or(0) + 1;
    let user_count = u64::try_from(fewest).unwrap_or(1) + rng.below(spread);
    for u in 0..user_count {
        let first = rng.pick(GIVEN).to_string();
        let last = rng.pick(FAMILY).to_string();
        let upn_domain = if custom_domains.len() > 1 && u > 0 {
            &custom
        } else {
            &domain
        };
        let deleted = rng.chance(0.1);
        users.push(User {
            id: rng.guid(),
            user_principal_name: format!(
                "{}.{}{u}@{upn_domain}",
                ascii_lower(&first),
                ascii_lower(&last)
            ),
            display_name: format!("{first} {last}"),
            first_name: first,
            last_name: last,
            usage_location: (u > 0).then(|| country.code.to_owned()),
            state: if deleted {
                "inactive".into()
            } else {
                "active".into()
            },
            soft_deletion_time: deleted.then(|| stamp(date(rng, 2024), rng)),
        });
    }
    Customer {
        id,
        commerce_id: rng.guid(),
        company_name,
        domain,
        address,
        email: format!("it@{custom}"),
        billing_profile,
        allow_delegated_access,
        custom_domains,
        associated_partner_id: reseller.map(|r| r.id.clone()),
        subscriptions,
        users,
        lazy: None,
    }
}

fn ascii_lower(name: &str) -> String {
    let ascii: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
    if ascii.is_empty() {
        "user".into()
    } else {
        ascii.to_ascii_lowercase()
    }
}

/// One subscription, with its add-on when it is a legacy offer that has one.
fn generate_subscriptions(rng: &mut Rng, reseller: Option<&Reseller>) -> Vec<Subscription> {
    let (family, offer_id, offer_name) = *rng.pick(OFFERS);
    let start = date(rng, 2019);
    let partner_id = reseller
        .filter(|_| rng.chance(0.9))
        .map_or(String::new(), |r| r.mpn_id.clone());
    let status = match rng.below(20) {
        0 => "suspended",
        1 => "expired",
        2 => "deleted",
        3 => "disabled",
        4 if family == Family::NewCommerce => "pending",
        _ => "active",
    };
    let (cycle, term, end) = match family {
        Family::NewCommerce => {
            let (cycle, term, years) = *rng.pick(&[
                ("monthly", "P1M", 0),
                ("monthly", "P1Y", 1),
                ("annual", "P1Y", 1),
                ("triennial", "P3Y", 3),
            ]);
            let end = (start.0 + years.max(1), start.1, start.2);
            (cycle, Some(term), midnight(end))
        }
        Family::LegacyOffice => {
            let cycle = *rng.pick(&["monthly", "annual"]);
            (cycle, None, midnight((start.0 + 1, start.1, start.2)))
        }
        Family::LegacyAzure => ("monthly", None, "9999-12-14T00:00:00Z".to_owned()),
        Family::AzurePlan | Family::AddOn => ("monthly", None, "9999-12-31T00:00:00Z".to_owned()),
    };
    let usage = matches!(family, Family::LegacyAzure | Family::AzurePlan);
    let id = if family == Family::NewCommerce || family == Family::AzurePlan {
        rng.guid()
    } else {
        rng.guid().to_ascii_uppercase()
    };
    let is_trial = family == Family::NewCommerce && rng.chance(0.05);
    let azure_entitlements = if family == Family::AzurePlan {
        (0..1 + rng.below(3))
            .map(|e| AzureEntitlement {
                id: rng.guid(),
                friendly_name: ["Production", "Dev/Test", "Sandbox"]
                    [usize::try_from(e).unwrap_or(0) % 3]
                    .into(),
                status: if rng.chance(0.8) {
                    "active".into()
                } else {
                    "inactive".into()
                },
            })
            .collect()
    } else {
        Vec::new()
    };
    let subscription = Subscription {
        id: id.clone(),
        family,
        offer_id: offer_id.into(),
        offer_name: offer_name.into(),
        friendly_name: offer_name.into(),
        quantity: if usage {
            1
        } else {
            u32::try_from(1 + rng.below(50)).unwrap_or(1)
        },
        creation_date: stamp(start, rng),
        effective_start_date: midnight(start),
        commitment_end_date: end,
        cancellation_allowed_until_date: (family == Family::NewCommerce).then(|| {
            format!(
                "{:04}-{:02}-{:02}T23:59:00Z",
                start.0,
                start.1,
                (start.2 + 7).min(28)
            )
        }),
        billing_cycle: cycle.into(),
        term_duration: term.map(str::to_owned),
        status: status.into(),
        auto_renew_enabled: !usage && rng.chance(0.8),
        is_trial,
        partner_id: partner_id.clone(),
        parent_subscription_id: None,
        entitlement_id: (family == Family::LegacyAzure).then(|| rng.guid()),
        azure_entitlements,
        order_id: if family == Family::NewCommerce {
            format!("{:012x}", rng.next_u64() & 0xffff_ffff_ffff)
        } else {
            rng.guid().to_ascii_uppercase()
        },
    };
    let mut out = vec![subscription];
    if family == Family::LegacyOffice && rng.chance(0.25) {
        out.push(Subscription {
            id: rng.guid().to_ascii_uppercase(),
            family: Family::AddOn,
            offer_id: ADD_ON.0.into(),
            offer_name: ADD_ON.1.into(),
            friendly_name: ADD_ON.1.into(),
            parent_subscription_id: Some(id),
            cancellation_allowed_until_date: None,
            term_duration: None,
            azure_entitlements: Vec::new(),
            entitlement_id: None,
            ..out[0].clone()
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_builds_the_same_world() {
        let a = World::generate(42, 50, 3);
        let b = World::generate(42, 50, 3);
        assert_eq!(a.customers, b.customers);
        assert_ne!(World::generate(43, 50, 3).customers, a.customers);
    }

    #[test]
    fn the_world_has_every_kind_of_tenant() {
        let world = World::generate(7, 400, 4);
        let full: Vec<Customer> = world
            .customers
            .iter()
            .map(|c| c.full().into_owned())
            .collect();
        let subs = || full.iter().flat_map(|c| &c.subscriptions);
        for family in [
            Family::LegacyOffice,
            Family::NewCommerce,
            Family::LegacyAzure,
            Family::AzurePlan,
            Family::AddOn,
        ] {
            assert!(subs().any(|s| s.family == family), "{family:?}");
        }
        for status in ["active", "suspended", "expired", "deleted"] {
            assert!(subs().any(|s| s.status == status), "{status}");
        }
        assert!(world.customers.iter().any(|c| c.subscriptions.is_empty()));
        assert!(world.customers.iter().any(|c| !c.allow_delegated_access));
        assert!(
            world
                .customers
                .iter()
                .any(|c| c.associated_partner_id.is_some())
        );
        assert!(world.customers.iter().any(|c| !c.company_name.is_ascii()));
        let last = &world.resellers[3].id;
        assert!(
            !world
                .customers
                .iter()
                .any(|c| c.associated_partner_id.as_ref() == Some(last))
        );
        assert!(subs().any(|s| s.is_trial));
    }
}

#[cfg(test)]
mod lazy_tests {
    use super::*;

    #[test]
    fn generated_details_come_back_the_same_and_can_be_changed() {
        let mut world = World::generate(9, 20, 2);
        let id = world.customers[3].id.clone();
        let first = world.customer(&id).expect("customer").into_owned();
        assert_eq!(world.customer(&id).expect("customer").into_owned(), first);
        let users = first.users.len();
        world.customer_mut(&id).expect("customer").users.pop();
        assert_eq!(
            world.customer(&id).expect("customer").users.len(),
            users - 1
        );
        let dumped: serde_json::Value = serde_json::to_value(&world).expect("json");
        assert_eq!(
            dumped["customers"][3]["users"].as_array().map(Vec::len),
            Some(users - 1)
        );
        assert!(
            dumped["customers"][4]["users"]
                .as_array()
                .is_some_and(|u| !u.is_empty())
        );
    }
}
