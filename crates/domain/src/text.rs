//! What a text field may hold. Names, address lines, phone numbers, external ids and custom
//! attributes are short lines of text; a field far longer, or holding a NUL character (which
//! PostgreSQL cannot store), is an error or an attack, refused with its name.

use std::collections::BTreeMap;

use crate::{Address, NewCompany, NewUser};

/// The longest value of a text field, in characters.
pub const MAX_TEXT_CHARS: usize = 200;

/// A field that is too long or holds a NUL character, named as people type it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {problem}")]
pub struct TextError {
    pub field: String,
    pub problem: &'static str,
}

/// Why `value` cannot be stored as text, if it cannot.
pub fn text_problem(value: &str) -> Option<&'static str> {
    if value.chars().count() > MAX_TEXT_CHARS {
        Some("is longer than 200 characters")
    } else if value.contains('\0') {
        Some("holds a NUL character")
    } else {
        None
    }
}

fn check<'a>(
    fields: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> Result<(), TextError> {
    for (field, value) in fields {
        if let Some(problem) = value.and_then(text_problem) {
            return Err(TextError {
                field: field.to_owned(),
                problem,
            });
        }
    }
    Ok(())
}

fn check_attributes(attributes: &BTreeMap<String, String>) -> Result<(), TextError> {
    for (key, value) in attributes {
        check([("a custom attribute name", Some(key.as_str()))])?;
        check([(key.as_str(), Some(value.as_str()))]).map_err(|e| TextError {
            field: format!("custom attribute '{key}'"),
            ..e
        })?;
    }
    Ok(())
}

fn check_address(prefix: &str, a: &Address) -> Result<(), TextError> {
    check([
        ("street1", a.street1.as_deref()),
        ("street2", a.street2.as_deref()),
        ("city", a.city.as_deref()),
        ("state", a.state.as_deref()),
        ("zip", a.zip.as_deref()),
    ])
    .map_err(|e| TextError {
        field: format!("{prefix}{}", e.field),
        ..e
    })
}

impl NewUser {
    /// Whether every text field can be stored (see [`text_problem`]).
    pub fn check_text(&self) -> Result<(), TextError> {
        check([
            ("external_id", self.external_id.as_deref()),
            ("first_name", self.first_name.as_deref()),
            ("last_name", self.last_name.as_deref()),
            ("locale", self.locale.as_deref()),
            ("phone", self.phone.as_deref()),
        ])?;
        check_attributes(&self.custom_attributes)
    }
}

impl NewCompany {
    /// Whether every text field can be stored (see [`text_problem`]).
    pub fn check_text(&self) -> Result<(), TextError> {
        check([
            ("name", Some(self.name.as_str())),
            ("external_id", self.external_id.as_deref()),
            ("phone", self.phone.as_deref()),
            ("website", self.website.as_deref()),
        ])?;
        check_address("", &self.address)?;
        if let Some(billing) = &self.billing_address {
            check_address("billing_", billing)?;
        }
        check_attributes(&self.custom_attributes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Email, Origin};

    #[test]
    fn a_long_field_is_named() {
        let mut user =
            NewUser::with_email(Email::parse("a@b.example").expect("email"), Origin::Manual);
        assert_eq!(user.check_text(), Ok(()));
        user.first_name = Some("x".repeat(MAX_TEXT_CHARS));
        assert_eq!(user.check_text(), Ok(()));
        user.first_name = Some("x".repeat(MAX_TEXT_CHARS + 1));
        assert_eq!(
            user.check_text().map_err(|e| e.to_string()),
            Err("first_name is longer than 200 characters".into())
        );
        user.first_name = Some("a\0b".into());
        assert_eq!(
            user.check_text().map_err(|e| e.to_string()),
            Err("first_name holds a NUL character".into())
        );
        user.first_name = None;
        user.custom_attributes
            .insert("tier".into(), "y".repeat(1_500_000));
        assert_eq!(
            user.check_text().map_err(|e| e.field),
            Err("custom attribute 'tier'".into())
        );
    }
}
