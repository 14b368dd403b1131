//! Tenants and companies as matching (`ferry_domain::matching`) compares them: the audit's
//! possible matches and Pending Companies' suggestions read both sides through here.

use ferry_domain::matching::{Domain, DomainKind, Party, email_domain, website_domain};
use ferry_storage::{CandidateCompany, StoredTenant};

/// A tenant: its name, its domains (the initial `onmicrosoft.com` one, its custom domains, its
/// billing and company e-mails' domains) and its billing country.
pub fn tenant_party(tenant: &StoredTenant) -> Party {
    let billing = tenant.billing.as_ref();
    let mut domains: Vec<Domain> = tenant
        .domain
        .iter()
        .chain(tenant.custom_domains.iter().flatten())
        .map(|d| {
            let kind = if d.to_ascii_lowercase().ends_with(".onmicrosoft.com") {
                DomainKind::OnMicrosoft
            } else {
                DomainKind::Custom
            };
            Domain::new(kind, d)
        })
        .collect();
    let emails = [
        billing.and_then(|b| b["email"].as_str()),
        tenant.email.as_deref(),
    ];
    domains.extend(
        emails
            .into_iter()
            .flatten()
            .filter_map(email_domain)
            .map(|d| Domain::new(DomainKind::Email, &d)),
    );
    domains.sort();
    domains.dedup_by(|a, b| a.name == b.name);
    Party {
        name: tenant.name.clone(),
        domains,
        country: billing
            .and_then(|b| b["country"].as_str())
            .map(str::to_owned),
    }
}

/// A company: its name, its e-mail's and website's domains and its country.
pub fn company_party(company: &CandidateCompany) -> Party {
    let domains = company
        .email
        .as_deref()
        .and_then(email_domain)
        .map(|d| Domain::new(DomainKind::Email, &d))
        .into_iter()
        .chain(
            company
                .website
                .as_deref()
                .and_then(website_domain)
                .map(|d| Domain::new(DomainKind::Website, &d)),
        )
        .collect();
    Party {
        name: company.name.clone(),
        domains,
        country: company.country.clone(),
    }
}
