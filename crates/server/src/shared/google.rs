//! Google Workspace as both front doors take it: a company's Workspace customer as typed (a
//! customer id or a domain), checked.

use ferry_domain::GoogleCustomer;

/// A customer id or a domain (neither: no link). Refused when both are given or one is not
/// what it claims to be.
pub fn customer_as_typed(
    customer_id: Option<&str>,
    domain: Option<&str>,
) -> Result<Option<GoogleCustomer>, String> {
    fn given(value: Option<&str>) -> Option<&str> {
        value.map(str::trim).filter(|v| !v.is_empty())
    }
    match (given(customer_id), given(domain)) {
        (Some(_), Some(_)) => Err("Give a Google customer id or a domain, not both.".into()),
        (Some(id), None) => GoogleCustomer::id(id).map(Some).map_err(|_| {
            format!(
                "'{id}' is not a Google customer id: a C followed by letters and digits, as the \
                 Admin console shows it under Account settings."
            )
        }),
        (None, Some(domain)) => GoogleCustomer::domain(domain)
            .map(Some)
            .map_err(|_| format!("'{domain}' is not a domain name.")),
        (None, None) => Ok(None),
    }
}
