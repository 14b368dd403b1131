//! Credentials: password hashes and API tokens.

use std::cell::RefCell;

use argon2::password_hash::phc::{Output, ParamsString, Salt};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
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

thread_local! {
    /// Argon2's working memory (19 MiB with the default parameters), kept by each thread that
    /// hashes: allocated afresh for every hash, it made the allocator's heaps grow by as much
    /// with every sign-in.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs Argon2 with `params` into `out`, in this thread's kept memory.
fn argon2_into(
    argon2: &Argon2,
    params: &Params,
    password: &str,
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    MEMORY.with_borrow_mut(|memory| {
        memory.resize(params.block_count(), Block::default());
        argon2.hash_password_into_with_memory(password.as_bytes(), salt, out, memory.as_mut_slice())
    })
}

/// Hashes a password with Argon2id and a random salt, as a PHC string.
///
/// Slow on purpose; call it from a blocking task in request handlers.
pub fn hash_password(password: &str) -> Result<String, CredentialError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(CredentialError::PasswordTooShort);
    }
    let params = Params::DEFAULT;
    let mut salt = [0u8; 16];
    rand::fill(&mut salt);
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    argon2_into(&argon2, &params, password, &salt, &mut out)
        .map_err(|_| CredentialError::Hashing)?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|_| CredentialError::Hashing)?,
        salt: Some(Salt::new(&salt).map_err(|_| CredentialError::Hashing)?),
        hash: Some(Output::new(&out).map_err(|_| CredentialError::Hashing)?),
    };
    Ok(hash.to_string())
}

/// Whether a password matches a stored PHC hash (of any parameters Argon2 understands).
pub fn verify_password(password: &str, hash: &str) -> bool {
    matches(password, hash).unwrap_or(false)
}

fn matches(password: &str, phc: &str) -> Option<bool> {
    let hash = PasswordHash::new(phc).ok()?;
    let algorithm = Algorithm::try_from(hash.algorithm.as_str()).ok()?;
    let version = match hash.version {
        Some(v) => Version::try_from(v).ok()?,
        None => Version::default(),
    };
    let params = Params::try_from(&hash).ok()?;
    let (salt, expected) = (hash.salt.as_ref()?, hash.hash.as_ref()?);
    let mut out = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params.clone());
    argon2_into(&argon2, &params, password, salt, &mut out).ok()?;
    // Output compares in constant time.
    Some(Output::new(&out).ok()? == *expected)
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
    fn hashes_made_by_the_argon2_crate_itself_still_verify() {
        use argon2::PasswordHasher;
        let stored = Argon2::default()
            .hash_password(b"correct horse battery")
            .expect("hash")
            .to_string();
        assert!(verify_password("correct horse battery", &stored));
        assert!(!verify_password("correct horse batter", &stored));
        assert!(!verify_password("correct horse battery", "not a hash"));
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
