//! Credentials: password hashes and API tokens.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use sha2::{Digest, Sha256};

/// The shortest password Ferry accepts.
pub const MIN_PASSWORD_LEN: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("the password must be at least {MIN_PASSWORD_LEN} characters long")]
    PasswordTooShort,
    #[error("the password could not be hashed")]
    Hashing,
}

/// Hashes a password with Argon2id and a random salt, as a PHC string.
///
/// Slow on purpose; call it from a blocking task in request handlers.
pub fn hash_password(password: &str) -> Result<String, CredentialError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(CredentialError::PasswordTooShort);
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|_| CredentialError::Hashing)
}

/// Whether a password matches a stored PHC hash (of any parameters Argon2 understands).
pub fn verify_password(password: &str, hash: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// A new API token: the secret to hand to its owner once, and the hash to store.
pub fn new_api_token() -> (String, Vec<u8>) {
    let token = format!("ferry_{}", random_secret());
    let hash = secret_hash(&token);
    (token, hash)
}

/// A new random secret (session id, e-mailed link token), as 64 hex digits.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    hex(&bytes)
}

/// The stored form of a secret token — API token, session id, e-mailed link. The secrets are
/// random and long, so a plain SHA-256 suffices where passwords need Argon2.
pub fn secret_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_round_trip() {
        let hash = hash_password("correct horse battery").expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse battery!", &hash));
        assert!(matches!(
            hash_password("short"),
            Err(CredentialError::PasswordTooShort)
        ));
    }

    #[test]
    fn tokens_are_unique_and_hashed() {
        let (a, hash_a) = new_api_token();
        let (b, _) = new_api_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), "ferry_".len() + 64);
        assert_eq!(secret_hash(&a), hash_a);
    }
}
