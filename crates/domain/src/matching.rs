//! Whether a Microsoft tenant looks like a company of the marketplace — a *possible match* —
//! and why (docs/company-sync.md). The Import Customers audit and Pending Companies both
//! suggest links with it.
//!
//! The score (0 to 100) adds signals a person can check on both records:
//! - a domain in common — a tenant's custom domain or billing e-mail's domain is the company's
//!   e-mail or website domain (50), or only the tenant's `onmicrosoft.com` prefix is the first
//!   label of one (40);
//! - the name, once case, accents, scripts, punctuation, legal forms and word order are set
//!   aside: the same (60), or alike from a similarity of 0.75 (its similarity × 60);
//! - the same country (10), or another one (−20) when anything else matched.
//!
//! A match is suggested from 50: a name alone is not enough when the countries differ, a shared
//! domain is. Candidates are found through [`CandidateIndex`], never by comparing every tenant
//! with every company. (A tenant already linked to a company of the marketplace is that
//! company's, and is not matched at all.)

use std::collections::{BTreeSet, HashMap};
use std::fmt;

/// The score from which a match is suggested.
pub const SUGGESTED_FROM: u8 = 50;

const SAME_NAME: f64 = 60.0;
const SHARED_DOMAIN: i32 = 50;
const SHARED_PREFIX: i32 = 40;
const SAME_COUNTRY: i32 = 10;
const OTHER_COUNTRY: i32 = -20;
/// Below this similarity two names say nothing.
const ALIKE_FROM: f64 = 0.75;
/// The letters of a word's start the index also finds it by.
const STEM: usize = 4;
/// An `onmicrosoft.com` prefix shorter than this says too little to compare.
const SHORTEST_PREFIX: usize = 4;

/// Words that say what kind of company it is, not which one (after folding: "A.Ş." is "as").
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
    "kk",
    "limited",
    "llc",
    "llp",
    "ltd",
    "nv",
    "oy",
    "oao",
    "ooo",
    "plc",
    "pty",
    "pte",
    "sa",
    "sarl",
    "sas",
    "sl",
    "spa",
    "srl",
    "sti",
    "zao",
];

/// Legal forms written without spaces around them, in scripts that do not separate words.
const ATTACHED_LEGAL_FORMS: &[&str] = &[
    "株式会社",
    "有限会社",
    "合同会社",
    "股份有限公司",
    "有限公司",
    "주식회사",
];

/// Domains of mailboxes anyone can have: sharing one says nothing about a company.
const FREE_MAIL: &[&str] = &[
    "aol.com",
    "gmail.com",
    "gmx.de",
    "gmx.net",
    "googlemail.com",
    "hotmail.com",
    "icloud.com",
    "live.com",
    "mail.ru",
    "outlook.com",
    "proton.me",
    "protonmail.com",
    "web.de",
    "yahoo.com",
    "yandex.ru",
];

/// Where a domain was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DomainKind {
    /// A tenant's initial `…onmicrosoft.com` domain.
    OnMicrosoft,
    /// A tenant's own verified domain.
    Custom,
    /// The domain of an e-mail address.
    Email,
    Website,
}

impl fmt::Display for DomainKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DomainKind::OnMicrosoft => "onmicrosoft domain",
            DomainKind::Custom => "custom domain",
            DomainKind::Email => "e-mail domain",
            DomainKind::Website => "website",
        })
    }
}

/// A domain and where it was found, lower-case.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Domain {
    pub kind: DomainKind,
    pub name: String,
}

impl Domain {
    pub fn new(kind: DomainKind, name: &str) -> Domain {
        Domain {
            kind,
            name: name.trim().trim_end_matches('.').to_lowercase(),
        }
    }

    /// The label an `onmicrosoft.com` prefix is compared with: a tenant's prefix, or the first
    /// label of another domain ("fabrikam" of "fabrikam.de" and of "fabrikam.onmicrosoft.com").
    fn label(&self) -> Option<&str> {
        let label = self.name.split('.').next()?;
        (label.len() >= SHORTEST_PREFIX && self.name.contains('.')).then_some(label)
    }

    /// Whether the domain says which company it is: not Microsoft's, not a free mailbox's.
    fn telling(&self) -> bool {
        self.kind != DomainKind::OnMicrosoft
            && self.name.contains('.')
            && !FREE_MAIL.contains(&self.name.as_str())
    }
}

/// One side of a comparison: a tenant as Partner Center describes it, or a company.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Party {
    pub name: String,
    pub domains: Vec<Domain>,
    /// ISO 3166 country code.
    pub country: Option<String>,
}

/// A party made ready for comparing: its name normalised once.
#[derive(Debug, Clone)]
pub struct Prepared {
    party: Party,
    name: Normalised,
}

impl Prepared {
    pub fn new(party: Party) -> Prepared {
        let name = normalise(&party.name);
        Prepared { party, name }
    }

    pub fn party(&self) -> &Party {
        &self.party
    }

    /// The keys under which [`CandidateIndex`] finds this party: its name key, each of its
    /// words, its telling domains and its domains' labels.
    fn keys(&self) -> Vec<(KeyKind, String)> {
        let mut keys = Vec::new();
        if !self.name.key.is_empty() {
            keys.push((KeyKind::Name, self.name.key.clone()));
        }
        // Numbers ("12", "2024") say which branch or year, not which company.
        let telling = self
            .name
            .words
            .iter()
            .filter(|w| !w.chars().all(|c| c.is_ascii_digit()));
        for word in telling {
            if word.chars().count() >= 3 {
                keys.push((KeyKind::Word, word.clone()));
            }
            // A word's start finds the same word misspelt further on.
            if word.chars().count() > STEM {
                keys.push((KeyKind::Word, word.chars().take(STEM).collect()));
            }
        }
        for domain in &self.party.domains {
            if domain.telling() {
                keys.push((KeyKind::Domain, domain.name.clone()));
            }
            if let Some(label) = domain.label() {
                keys.push((KeyKind::Label, label.to_owned()));
            }
        }
        keys.sort();
        keys.dedup();
        keys
    }
}

/// Why two records look alike, each reason a sentence a person can check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The same domain on both sides, as each side holds it.
    SharedDomain {
        domain: String,
        ours: DomainKind,
        theirs: DomainKind,
    },
    /// The `onmicrosoft.com` prefix of one is the first label of a domain of the other.
    SharedPrefix {
        prefix: String,
        theirs: Domain,
    },
    /// Names alike: `similarity` in hundredths (100: the same), after removing `removed`.
    Name {
        similarity: u8,
        removed: Vec<String>,
        reordered: bool,
    },
    SameCountry,
    OtherCountry,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::SharedDomain {
                domain,
                ours,
                theirs,
            } => write!(f, "{ours} {domain} = {theirs} {domain}"),
            Reason::SharedPrefix { prefix, theirs } => {
                write!(
                    f,
                    "onmicrosoft prefix {prefix} = {} {}",
                    theirs.kind, theirs.name
                )
            }
            Reason::Name {
                similarity,
                removed,
                reordered,
            } => {
                if *similarity >= 100 {
                    f.write_str("the same name")?;
                } else {
                    write!(f, "name {}.{:02}", similarity / 100, similarity % 100)?;
                }
                let mut after = Vec::new();
                if !removed.is_empty() {
                    let quoted: Vec<String> = removed.iter().map(|r| format!("'{r}'")).collect();
                    after.push(format!("removing {}", quoted.join(", ")));
                }
                if *reordered {
                    after.push("reordering its words".to_owned());
                }
                if !after.is_empty() {
                    write!(f, " after {}", after.join(" and "))?;
                }
                Ok(())
            }
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

    /// The reasons as one line: "custom domain fabrikam.de = website fabrikam.de; name 0.92
    /// after removing 'GmbH'".
    pub fn explained(&self) -> String {
        let reasons: Vec<String> = self.reasons.iter().map(ToString::to_string).collect();
        reasons.join("; ")
    }
}

/// How much a tenant and a company look alike. The score is the same either way round; the
/// reasons speak of `a` first.
pub fn likeness(a: &Party, b: &Party) -> Likeness {
    compare(&Prepared::new(a.clone()), &Prepared::new(b.clone()))
}

/// [`likeness`] of two prepared parties.
pub fn compare(a: &Prepared, b: &Prepared) -> Likeness {
    let mut score = 0;
    let mut reasons = Vec::new();
    if let Some(reason) = shared_domain(a, b) {
        score += match reason {
            Reason::SharedDomain { .. } => SHARED_DOMAIN,
            _ => SHARED_PREFIX,
        };
        reasons.push(reason);
    }
    let similarity = a.name.similarity(&b.name);
    if similarity >= ALIKE_FROM {
        // Rounded down to hundredths, so that what is shown is what was scored.
        let hundredths = (similarity * 100.0).floor();
        score += (SAME_NAME * hundredths / 100.0).round() as i32;
        let mut removed = a.name.removed.clone();
        removed.extend(b.name.removed.iter().cloned());
        removed.sort();
        removed.dedup();
        reasons.push(Reason::Name {
            similarity: hundredths as u8,
            removed,
            reordered: a.name.words == b.name.words && a.name.written != b.name.written,
        });
    }
    match (&a.party.country, &b.party.country) {
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

/// The strongest domain signal between two parties: a telling domain on both sides, else an
/// `onmicrosoft.com` prefix that is the first label of a domain of the other side.
fn shared_domain(a: &Prepared, b: &Prepared) -> Option<Reason> {
    let exact = a
        .party
        .domains
        .iter()
        .filter(|d| d.telling())
        .flat_map(|ours| {
            b.party
                .domains
                .iter()
                .filter(move |theirs| theirs.telling() && theirs.name == ours.name)
                .map(move |theirs| (ours, theirs))
        })
        .min_by(|x, y| (&x.0.name, x.0.kind, x.1.kind).cmp(&(&y.0.name, y.0.kind, y.1.kind)));
    if let Some((ours, theirs)) = exact {
        return Some(Reason::SharedDomain {
            domain: ours.name.clone(),
            ours: ours.kind,
            theirs: theirs.kind,
        });
    }
    let prefix = |x: &Prepared, y: &Prepared| {
        x.party
            .domains
            .iter()
            .filter(|d| d.kind == DomainKind::OnMicrosoft)
            .filter_map(Domain::label)
            .flat_map(|label| {
                y.party
                    .domains
                    .iter()
                    .filter(move |d| d.kind != DomainKind::OnMicrosoft && d.label() == Some(label))
                    .map(move |d| (label, d))
            })
            .min()
            .map(|(label, theirs)| Reason::SharedPrefix {
                prefix: label.to_owned(),
                theirs: theirs.clone(),
            })
    };
    prefix(a, b).or_else(|| prefix(b, a))
}

/// A name as the comparison sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Normalised {
    /// Its words in the order written, folded, legal forms removed.
    written: Vec<String>,
    /// The same words sorted: word order does not matter.
    words: Vec<String>,
    /// The sorted words joined by spaces.
    key: String,
    /// The legal forms removed, as they were written.
    removed: Vec<String>,
}

impl Normalised {
    /// 1 for the same words in any order; otherwise the better of the words in common and
    /// the letter pairs in common (which forgives a typo or a word run together).
    fn similarity(&self, other: &Normalised) -> f64 {
        if self.key.is_empty() || other.key.is_empty() {
            return 0.0;
        }
        if self.key == other.key {
            return 1.0;
        }
        let ours: BTreeSet<&str> = self.words.iter().map(String::as_str).collect();
        let theirs: BTreeSet<&str> = other.words.iter().map(String::as_str).collect();
        let shared = ours.intersection(&theirs).count() as f64;
        let words = 2.0 * shared / (ours.len() + theirs.len()) as f64;
        words.max(dice(&self.key, &other.key)).min(0.99)
    }
}

/// The Dice coefficient of two texts' letter pairs (spaces left out).
fn dice(a: &str, b: &str) -> f64 {
    let pairs = |text: &str| -> Vec<(char, char)> {
        let letters: Vec<char> = text.chars().filter(|c| *c != ' ').collect();
        let mut pairs: Vec<(char, char)> = letters.windows(2).map(|w| (w[0], w[1])).collect();
        pairs.sort_unstable();
        pairs
    };
    let (x, y) = (pairs(a), pairs(b));
    if x.is_empty() || y.is_empty() {
        return 0.0;
    }
    // Both sorted: count the pairs in common, each as often as both have it.
    let (mut i, mut j, mut shared) = (0, 0, 0usize);
    while i < x.len() && j < y.len() {
        match x[i].cmp(&y[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                shared += 1;
                i += 1;
                j += 1;
            }
        }
    }
    2.0 * shared as f64 / (x.len() + y.len()) as f64
}

fn normalise(name: &str) -> Normalised {
    let mut removed = Vec::new();
    let mut text = name.to_owned();
    for form in ATTACHED_LEGAL_FORMS {
        if text.contains(form) {
            text = text.replace(form, " ");
            removed.push((*form).to_owned());
        }
    }
    let mut written = Vec::new();
    // "S.A.R.L." and "s.a.r.l" are one word once the dots between letters go.
    for raw in text.split(|c: char| c.is_whitespace() || matches!(c, ',' | '&' | '/' | '+')) {
        let mut word = String::new();
        for c in raw.chars() {
            fold_into(c, &mut word);
        }
        if word.is_empty() {
            continue;
        }
        if LEGAL_FORMS.contains(&word.as_str()) {
            removed.push(
                raw.trim_matches(|c: char| !c.is_alphanumeric() && c != '.')
                    .to_owned(),
            );
        } else {
            written.push(word);
        }
    }
    // A name that is nothing but a legal form keeps it: "AG" is then its name.
    if written.is_empty() && !removed.is_empty() {
        return Normalised::default();
    }
    let mut words = written.clone();
    words.sort();
    Normalised {
        key: words.join(" "),
        written,
        words,
        removed,
    }
}

/// A name as the index and the equality of names see it: its words lower-case, accents off,
/// transliterated to Latin letters, legal forms removed, sorted. "Café Lumière S.A.R.L." and
/// "lumiere cafe" have the same key.
pub fn name_key(name: &str) -> String {
    normalise(name).key
}

/// Appends `c` folded: lower-case letters and digits of the Latin alphabet where it has one
/// (accents taken off; Cyrillic and Greek transliterated; full-width forms narrowed), other
/// letters and digits as they are, anything else dropped.
fn fold_into(c: char, out: &mut String) {
    // Full-width ASCII, as Japanese names often write Latin letters.
    let c = match u32::from(c) {
        code @ 0xFF01..=0xFF5E => char::from_u32(code - 0xFEE0).unwrap_or(c),
        _ => c,
    };
    for lower in c.to_lowercase() {
        let latin: &str = match lower {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
            'æ' => "ae",
            'ç' | 'č' | 'ć' => "c",
            'ď' | 'đ' | 'ð' => "d",
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' => "e",
            'ğ' => "g",
            'ì' | 'í' | 'î' | 'ï' | 'ī' | 'ı' => "i",
            'ł' | 'ľ' => "l",
            'ñ' | 'ń' | 'ň' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
            'œ' => "oe",
            'ř' => "r",
            'š' | 'ś' | 'ş' | 'ș' => "s",
            'ß' => "ss",
            'ť' | 'ţ' | 'ț' => "t",
            'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => "u",
            'ý' | 'ÿ' => "y",
            'ž' | 'ź' | 'ż' => "z",
            'þ' => "th",
            // The combining dot that lower-casing 'İ' leaves behind.
            '\u{307}' => "",
            other => match cyrillic_or_greek(other) {
                Some(latin) => latin,
                None => {
                    if other.is_alphanumeric() {
                        out.push(other);
                    }
                    continue;
                }
            },
        };
        out.push_str(latin);
    }
}

/// The Latin letters of a lower-case Cyrillic or Greek letter.
fn cyrillic_or_greek(c: char) -> Option<&'static str> {
    Some(match c {
        'а' | 'α' => "a",
        'б' | 'β' => "b",
        'в' => "v",
        'г' | 'γ' => "g",
        'д' | 'δ' => "d",
        'е' | 'ё' | 'э' | 'ε' | 'η' => "e",
        'ж' => "zh",
        'з' | 'ζ' => "z",
        'и' | 'й' | 'ι' => "i",
        'к' | 'κ' => "k",
        'л' | 'λ' => "l",
        'м' | 'μ' => "m",
        'н' | 'ν' => "n",
        'о' | 'ο' | 'ω' => "o",
        'п' | 'π' => "p",
        'р' | 'ρ' => "r",
        'с' | 'σ' | 'ς' => "s",
        'т' | 'τ' => "t",
        'у' | 'υ' => "u",
        'ф' | 'φ' => "f",
        'х' | 'χ' => "kh",
        'ц' => "ts",
        'ч' => "ch",
        'ш' => "sh",
        'щ' => "shch",
        'ы' => "y",
        'ю' => "yu",
        'я' => "ya",
        'θ' => "th",
        'ξ' => "x",
        'ψ' => "ps",
        'ъ' | 'ь' => "",
        _ => return None,
    })
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum KeyKind {
    Name,
    Word,
    Domain,
    Label,
}

/// Parties (tenants, say) looked up by what another party (a company) shares with them: a
/// name key, a word, a domain, a domain's label, a tenant id. Only hashes are kept, a few
/// bytes a key; a hash shared by chance only adds a candidate that scoring turns down.
///
/// A word held by more than [`CandidateIndex::COMMON_WORD`] parties ("solutions", "group")
/// finds nobody: it would make every company a candidate of them all.
#[derive(Debug, Default)]
pub struct CandidateIndex {
    keys: HashMap<u64, Vec<u32>>,
    len: u32,
}

impl CandidateIndex {
    pub const COMMON_WORD: usize = 16;

    /// Adds the next party; answers its number (0, 1, 2 …).
    pub fn add(&mut self, party: &Prepared) -> u32 {
        let n = self.len;
        self.len += 1;
        for (kind, key) in party.keys() {
            self.keys.entry(hash(kind, &key)).or_default().push(n);
        }
        n
    }

    /// The numbers of the parties that share a key with `other`.
    pub fn candidates(&self, other: &Prepared) -> BTreeSet<u32> {
        let mut found = BTreeSet::new();
        for (kind, key) in other.keys() {
            if let Some(parties) = self.keys.get(&hash(kind, &key)) {
                if kind == KeyKind::Word && parties.len() > Self::COMMON_WORD {
                    continue;
                }
                found.extend(parties);
            }
        }
        found
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

fn hash(kind: KeyKind, key: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one((kind, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn party(name: &str, domains: &[(DomainKind, &str)], country: Option<&str>) -> Party {
        Party {
            name: name.into(),
            domains: domains.iter().map(|(k, d)| Domain::new(*k, d)).collect(),
            country: country.map(str::to_owned),
        }
    }

    use DomainKind::*;

    #[test]
    fn names_are_compared_without_forms_case_accents_scripts_or_order() {
        assert_eq!(name_key("Café Lumière S.A.R.L."), "cafe lumiere");
        assert_eq!(name_key("NORTHWIND TRADERS, LTD"), "northwind traders");
        assert_eq!(name_key("Traders Northwind"), "northwind traders");
        assert_eq!(name_key("Elbe Maschinenbau GmbH"), "elbe maschinenbau");
        assert_eq!(name_key("Smith & Sons"), "smith sons");
        assert_eq!(name_key("Anadolu Yazılım A.Ş."), "anadolu yazilim");
        assert_eq!(name_key("İstanbul Bilişim Ltd. Şti."), "bilisim istanbul");
        assert_eq!(name_key("ファブリカム株式会社"), "ファブリカム");
        assert_eq!(name_key("Ｆａｂｒｉｋａｍ 株式会社"), "fabrikam");
        assert_eq!(name_key("ООО Контосо"), "kontoso");
        assert_eq!(name_key("Straße Werke"), "strasse werke");
    }

    #[test]
    fn each_signal_says_why() {
        let tenant = party(
            "Fabrikam GmbH",
            &[
                (OnMicrosoft, "fabrikamde.onmicrosoft.com"),
                (Custom, "fabrikam.de"),
            ],
            Some("DE"),
        );
        let company = party("Fabrikam", &[(Website, "fabrikam.de")], Some("DE"));
        let like = likeness(&tenant, &company);
        assert_eq!(like.score, 100);
        assert_eq!(
            like.explained(),
            "custom domain fabrikam.de = website fabrikam.de; the same name after removing \
             'GmbH'; the same country"
        );
        let abroad = likeness(&tenant, &party("Fabrikam", &[], Some("FR")));
        assert_eq!((abroad.score, abroad.suggested()), (40, false));
        let alike = likeness(
            &party("Northwind Traders", &[], Some("US")),
            &party("Northwind Traders Seattle", &[], Some("US")),
        );
        assert_eq!(alike.score, 58);
        assert_eq!(alike.explained(), "name 0.80; the same country");
        let stranger = likeness(
            &tenant,
            &party("Contoso", &[(Email, "contoso.com")], Some("DE")),
        );
        assert_eq!(stranger.score, 10);
    }

    #[test]
    fn an_onmicrosoft_prefix_is_a_weaker_domain_signal() {
        let tenant = party("FBK", &[(OnMicrosoft, "fabrikam.onmicrosoft.com")], None);
        let company = party("Fabrikam Werke", &[(Email, "it@fabrikam.de")], None);
        let company = Party {
            domains: vec![Domain::new(Email, "fabrikam.de")],
            ..company
        };
        let like = likeness(&tenant, &company);
        assert_eq!(like.score, 40);
        assert_eq!(
            like.explained(),
            "onmicrosoft prefix fabrikam = e-mail domain fabrikam.de"
        );
        assert_eq!(likeness(&company, &tenant).score, 40);
    }

    #[test]
    fn free_mail_says_nothing() {
        let a = party("A", &[(Email, "gmail.com")], None);
        let b = party("B", &[(Email, "gmail.com")], None);
        assert_eq!(likeness(&a, &b).score, 0);
    }

    #[test]
    fn words_in_another_order_are_the_same_name() {
        let like = likeness(
            &party("Traders Northwind", &[], None),
            &party("Northwind Traders Inc.", &[], None),
        );
        assert_eq!(like.score, 60);
        assert_eq!(
            like.explained(),
            "the same name after removing 'Inc.' and reordering its words"
        );
    }

    #[test]
    fn the_index_finds_by_any_key_but_not_by_a_common_word() {
        let mut index = CandidateIndex::default();
        let tenants = [
            party("Fabrikam", &[(Custom, "fabrikam.de")], None),
            party(
                "Northwind",
                &[(OnMicrosoft, "northwind.onmicrosoft.com")],
                None,
            ),
        ];
        for tenant in &tenants {
            index.add(&Prepared::new(tenant.clone()));
        }
        let by_domain = Prepared::new(party("X", &[(Website, "fabrikam.de")], None));
        assert_eq!(index.candidates(&by_domain), BTreeSet::from([0]));
        let by_label = Prepared::new(party("Y", &[(Email, "northwind.com")], None));
        assert_eq!(index.candidates(&by_label), BTreeSet::from([1]));
        let by_word = Prepared::new(party("Northwind Seattle", &[], None));
        assert_eq!(index.candidates(&by_word), BTreeSet::from([1]));
        for n in 0..=CandidateIndex::COMMON_WORD {
            index.add(&Prepared::new(party(&format!("Group {n}"), &[], None)));
        }
        let common = Prepared::new(party("Group", &[], None));
        assert!(index.candidates(&common).is_empty());
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
            proptest::collection::vec("[a-z]{1,8}\\.(com|example|de|onmicrosoft\\.com)", 0..3),
            proptest::collection::vec(0..4u8, 0..3),
            proptest::option::of("(US|DE|FR|NL)"),
        )
            .prop_map(|(name, domains, kinds, country)| Party {
                name,
                domains: domains
                    .iter()
                    .zip(kinds.iter().chain(std::iter::repeat(&1)))
                    .map(|(d, k)| {
                        let kind = match (d.ends_with(".onmicrosoft.com"), k) {
                            (true, _) => OnMicrosoft,
                            (false, 0) => Custom,
                            (false, 1) => Email,
                            _ => Website,
                        };
                        Domain::new(kind, d)
                    })
                    .collect(),
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
            prop_assume!(!name_key(&a.name).is_empty() || a.domains.iter().any(Domain::telling));
            prop_assert!(likeness(&a, &a).suggested());
        }

        #[test]
        fn the_name_key_ignores_case_accents_forms_and_order(
            name in "[A-Za-zÀ-ÿ]{1,10}( [A-Za-zÀ-ÿ]{1,10}){0,3}"
        ) {
            let key = name_key(&name);
            prop_assert_eq!(name_key(&key), key.clone());
            prop_assert_eq!(name_key(&name.to_uppercase()), key.clone());
            prop_assert_eq!(name_key(&format!("{name} Ltd.")), name_key(&format!("{name}, LLC")));
            let reversed: Vec<&str> = name.split(' ').rev().collect();
            prop_assert_eq!(name_key(&reversed.join(" ")), key);
        }

        #[test]
        fn the_index_finds_every_pair_a_strong_signal_joins(a in any_party(), b in any_party()) {
            let (x, y) = (Prepared::new(a), Prepared::new(b));
            let strong = compare(&x, &y).reasons.iter().any(|r| match r {
                Reason::Name { similarity, .. } => *similarity >= 100,
                Reason::SameCountry | Reason::OtherCountry => false,
                _ => true,
            });
            if strong {
                let mut index = CandidateIndex::default();
                index.add(&x);
                prop_assert!(index.candidates(&y).contains(&0));
            }
        }

        #[test]
        fn the_score_does_not_change_with_case_or_accents(
            plain in "[A-Za-z .,&-]{0,30}",
            accents in any::<u64>(),
            a in any_party(),
            b in any_party(),
        ) {
            // The same name with some of its letters accented, as people type it or not.
            let accented: String = plain
                .chars()
                .enumerate()
                .map(|(i, c)| match (c, accents >> (i % 64) & 1) {
                    ('a', 1) => 'á',
                    ('e', 1) => 'é',
                    ('i', 1) => 'î',
                    ('o', 1) => 'ö',
                    ('u', 1) => 'ü',
                    ('c', 1) => 'ç',
                    ('n', 1) => 'ñ',
                    ('E', 1) => 'É',
                    (c, _) => c,
                })
                .collect();
            let named = |name: String| Party { name, ..a.clone() };
            let score = likeness(&named(plain.clone()), &b).score;
            prop_assert_eq!(likeness(&named(accented.clone()), &b).score, score);
            prop_assert_eq!(likeness(&named(plain.to_uppercase()), &b).score, score);
            prop_assert_eq!(likeness(&b, &named(accented.to_lowercase())).score, score);
        }

        #[test]
        fn scores_stay_between_0_and_100(a in any_party(), b in any_party()) {
            let score = likeness(&a, &b).score;
            prop_assert!(score <= 100);
        }
    }
}
