//! Whether a Microsoft tenant looks like a company of the marketplace — a *possible match* —
//! and why. The Import Customers audit suggests links with it; Pending Companies will too.
//!
//! The score (0 to 100) adds signals a person can check on both records: the same name once
//! legal forms, punctuation, case and accents are set aside (60), or mostly the same words
//! (35); a domain in common — the company's e-mail or website domain is one of the tenant's
//! (50); the same country (10) or another one (−20). A match is suggested from 50: a name alone
//! is not enough when the countries differ, a shared domain is.

use std::collections::BTreeSet;
use std::fmt;

/// The score from which a match is suggested.
pub const SUGGESTED_FROM: u8 = 50;

const SAME_NAME: i32 = 60;
const SIMILAR_NAME: i32 = 35;
const SHARED_DOMAIN: i32 = 50;
const SAME_COUNTRY: i32 = 10;
const OTHER_COUNTRY: i32 = -20;

/// Words that say what kind of company it is, not which one.
const LEGAL_FORMS: &[&str] = &[
    "ab",
    "ag",
    "as",
    "asa",
    "bv",
    "co",
    "company",
    "corp",
    "corporation",
    "gmbh",
    "inc",
    "incorporated",
    "kg",
    "limited",
    "llc",
    "llp",
    "ltd",
    "nv",
    "oy",
    "plc",
    "pty",
    "pte",
    "sa",
    "sarl",
    "sas",
    "sl",
    "spa",
    "srl",
];

/// One side of a comparison: a tenant as Partner Center describes it, or a company.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Party {
    pub name: String,
    /// Domains, lower-case: a tenant's own domains and its billing e-mail's; a company's e-mail
    /// and website domains.
    pub domains: Vec<String>,
    /// ISO 3166 country code.
    pub country: Option<String>,
}

/// Why two records look alike.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    SameName,
    SimilarName,
    SharedDomain(String),
    SameCountry,
    OtherCountry,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::SameName => f.write_str("the same name"),
            Reason::SimilarName => f.write_str("a similar name"),
            Reason::SharedDomain(domain) => write!(f, "the domain {domain}"),
            Reason::SameCountry => f.write_str("the same country"),
            Reason::OtherCountry => f.write_str("another country"),
        }
    }
}

/// How much two records look alike, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Likeness {
    pub score: u8,
    pub reasons: Vec<Reason>,
}

impl Likeness {
    pub fn suggested(&self) -> bool {
        self.score >= SUGGESTED_FROM
    }
}

/// How much a tenant and a company look alike. The same either way round.
pub fn likeness(a: &Party, b: &Party) -> Likeness {
    let mut score = 0;
    let mut reasons = Vec::new();
    let (key_a, key_b) = (name_key(&a.name), name_key(&b.name));
    if !key_a.is_empty() && key_a == key_b {
        score += SAME_NAME;
        reasons.push(Reason::SameName);
    } else if similar_words(&key_a, &key_b) {
        score += SIMILAR_NAME;
        reasons.push(Reason::SimilarName);
    }
    let domains_a: BTreeSet<&str> = a.domains.iter().map(String::as_str).collect();
    let shared = b
        .domains
        .iter()
        .map(String::as_str)
        .filter(|d| domains_a.contains(d))
        .min();
    if let Some(domain) = shared {
        score += SHARED_DOMAIN;
        reasons.push(Reason::SharedDomain(domain.to_owned()));
    }
    match (&a.country, &b.country) {
        (Some(x), Some(y)) if x.eq_ignore_ascii_case(y) => {
            score += SAME_COUNTRY;
            reasons.push(Reason::SameCountry);
        }
        (Some(_), Some(_)) if score > 0 => {
            score += OTHER_COUNTRY;
            reasons.push(Reason::OtherCountry);
        }
        _ => {}
    }
    Likeness {
        score: u8::try_from(score.clamp(0, 100)).unwrap_or(0),
        reasons,
    }
}

/// A name as the comparison sees it: lower-case words of letters and digits, accents and legal
/// forms set aside. "Café Lumière S.A.R.L." and "cafe lumiere" have the same key.
pub fn name_key(name: &str) -> String {
    let folded: String = name.chars().map(fold).collect();
    // "S.A.R.L." and "s.a.r.l" are one word once the dots between single letters go.
    let mut words: Vec<String> = Vec::new();
    for raw in folded.split(|c: char| c.is_whitespace() || c == ',' || c == '&' || c == '/') {
        let joined: String = raw.chars().filter(|c| c.is_alphanumeric()).collect();
        if !joined.is_empty() {
            words.push(joined);
        }
    }
    let kept: Vec<&str> = words
        .iter()
        .map(String::as_str)
        .filter(|w| !LEGAL_FORMS.contains(w))
        .collect();
    kept.join(" ")
}

/// Lower-case, with the accents of Latin letters taken off.
fn fold(c: char) -> char {
    let lower = c.to_lowercase().next().unwrap_or(c);
    match lower {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' => 'a',
        'ç' | 'č' | 'ć' => 'c',
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' => 'e',
        'ì' | 'í' | 'î' | 'ï' | 'ī' => 'i',
        'ñ' | 'ń' | 'ň' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' => 'o',
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' => 'u',
        'ý' | 'ÿ' => 'y',
        'š' | 'ś' => 's',
        'ž' | 'ź' | 'ż' => 'z',
        'ł' => 'l',
        'ř' => 'r',
        'ß' => 's',
        other => other,
    }
}

/// Mostly the same words: at least two thirds of all the words of both are in both.
fn similar_words(a: &str, b: &str) -> bool {
    let words_a: BTreeSet<&str> = a.split(' ').filter(|w| !w.is_empty()).collect();
    let words_b: BTreeSet<&str> = b.split(' ').filter(|w| !w.is_empty()).collect();
    let shared = words_a.intersection(&words_b).count();
    let all = words_a.union(&words_b).count();
    shared > 0 && shared * 3 >= all * 2
}

/// The domain of an e-mail address, lower-case.
pub fn email_domain(email: &str) -> Option<String> {
    let (_, domain) = email.trim().rsplit_once('@')?;
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    domain.contains('.').then_some(domain)
}

/// The host of a website, lower-case, without `www.`: "https://www.Contoso.com/about" is
/// "contoso.com".
pub fn website_domain(website: &str) -> Option<String> {
    let rest = website.trim();
    let rest = rest.split_once("://").map_or(rest, |(_, r)| r);
    let host = rest.split(['/', '?', '#']).next()?;
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = host
        .split(':')
        .next()?
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host).to_owned();
    host.contains('.').then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn party(name: &str, domains: &[&str], country: Option<&str>) -> Party {
        Party {
            name: name.into(),
            domains: domains.iter().map(|d| (*d).to_owned()).collect(),
            country: country.map(str::to_owned),
        }
    }

    #[test]
    fn names_are_compared_without_forms_case_or_accents() {
        assert_eq!(name_key("Café Lumière S.A.R.L."), "cafe lumiere");
        assert_eq!(name_key("NORTHWIND TRADERS, LTD"), "northwind traders");
        assert_eq!(name_key("Elbe Maschinenbau GmbH"), "elbe maschinenbau");
        assert_eq!(name_key("Smith & Sons"), "smith sons");
    }

    #[test]
    fn each_signal_says_why() {
        let tenant = party("Northwind Traders Ltd", &["northwind.example"], Some("US"));
        let same = likeness(&tenant, &party("Northwind Traders", &[], Some("US")));
        assert_eq!(same.score, 70);
        assert_eq!(same.reasons, [Reason::SameName, Reason::SameCountry]);
        let by_domain = likeness(&tenant, &party("NW", &["northwind.example"], None));
        assert_eq!(by_domain.score, 50);
        assert!(by_domain.suggested());
        assert_eq!(
            by_domain.reasons[0].to_string(),
            "the domain northwind.example"
        );
        let abroad = likeness(&tenant, &party("Northwind Traders", &[], Some("DE")));
        assert_eq!((abroad.score, abroad.suggested()), (40, false));
        let words = likeness(
            &tenant,
            &party("Northwind Traders Seattle", &[], Some("US")),
        );
        assert_eq!(words.reasons, [Reason::SimilarName, Reason::SameCountry]);
        let stranger = likeness(&tenant, &party("Contoso", &["contoso.example"], Some("US")));
        assert_eq!(stranger.score, 10);
    }

    #[test]
    fn domains_come_from_addresses_and_websites() {
        assert_eq!(
            email_domain("IT@Northwind.Example").as_deref(),
            Some("northwind.example")
        );
        assert_eq!(email_domain("nobody"), None);
        assert_eq!(
            website_domain("https://www.Contoso.com:443/about?x=1").as_deref(),
            Some("contoso.com")
        );
        assert_eq!(
            website_domain("contoso.com").as_deref(),
            Some("contoso.com")
        );
        assert_eq!(website_domain("localhost"), None);
    }

    fn any_party() -> impl Strategy<Value = Party> {
        (
            "[A-Za-zÀ-ÿ .,&-]{0,30}",
            proptest::collection::vec("[a-z]{1,8}\\.(com|example|de)", 0..3),
            proptest::option::of("(US|DE|FR|NL)"),
        )
            .prop_map(|(name, domains, country)| Party {
                name,
                domains,
                country,
            })
    }

    proptest! {
        #[test]
        fn likeness_is_the_same_either_way_round(a in any_party(), b in any_party()) {
            prop_assert_eq!(likeness(&a, &b).score, likeness(&b, &a).score);
        }

        #[test]
        fn a_record_is_suggested_as_its_own_match(a in any_party()) {
            prop_assume!(!name_key(&a.name).is_empty() || !a.domains.is_empty());
            prop_assert!(likeness(&a, &a).suggested());
        }

        #[test]
        fn the_name_key_ignores_case_forms_and_is_stable(name in "[A-Za-z]{1,10}( [A-Za-z]{1,10}){0,3}") {
            let key = name_key(&name);
            prop_assert_eq!(name_key(&key), key.clone());
            prop_assert_eq!(name_key(&name.to_uppercase()), key.clone());
            prop_assert_eq!(name_key(&format!("{name} Ltd.")), name_key(&format!("{name}, LLC")));
        }

        #[test]
        fn scores_stay_between_0_and_100(a in any_party(), b in any_party()) {
            let score = likeness(&a, &b).score;
            prop_assert!(score <= 100);
        }
    }
}
