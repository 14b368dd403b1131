//! Secrets at rest (Partner Center application secrets and refresh tokens) are sealed with
//! ChaCha20-Poly1305 under a key from the configuration, or one generated on first start and
//! kept in a file only its owner can read. The store only ever sees the sealed bytes.

use std::path::Path;

use chacha20poly1305::aead::{Aead, Generate, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("the secret key must be 64 hexadecimal digits")]
    BadKey,
    #[error("cannot read or write the secret key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
    #[error("a sealed secret could not be opened: it was sealed with another key, or damaged")]
    Open,
}

/// Seals and opens secrets with one key.
#[derive(Clone)]
pub struct Sealer {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(***)")
    }
}

impl Sealer {
    /// A sealer from a key written as 64 hexadecimal digits.
    pub fn from_hex(hex: &str) -> Result<Self, SealError> {
        let hex = hex.trim();
        if hex.len() != 64 {
            return Err(SealError::BadKey);
        }
        let mut key = [0u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte =
                u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).map_err(|_| SealError::BadKey)?;
        }
        Ok(Sealer {
            cipher: ChaCha20Poly1305::new(&Key::from(key)),
        })
    }

    /// The key in `path`, created (readable by its owner only) when the file does not exist.
    pub fn from_file(path: &Path) -> Result<Self, SealError> {
        let failed = |e: std::io::Error| SealError::KeyFile {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        match std::fs::read_to_string(path) {
            Ok(hex) => Sealer::from_hex(&hex),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                rand::fill(&mut key);
                let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
                write_private(path, &hex).map_err(failed)?;
                Sealer::from_hex(&hex)
            }
            Err(e) => Err(failed(e)),
        }
    }

    /// The secret sealed: a fresh nonce, then the ciphertext with its tag.
    pub fn seal(&self, secret: &str) -> Vec<u8> {
        let nonce = Nonce::generate();
        let mut out = nonce.to_vec();
        // Encryption into memory cannot fail for inputs this small.
        out.extend(
            self.cipher
                .encrypt(&nonce, secret.as_bytes())
                .unwrap_or_default(),
        );
        out
    }

    pub fn open(&self, sealed: &[u8]) -> Result<String, SealError> {
        if sealed.len() < NONCE_LEN {
            return Err(SealError::Open);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_from(nonce).map_err(|_| SealError::Open)?;
        let plain = self
            .cipher
            .decrypt(&nonce, ciphertext)
            .map_err(|_| SealError::Open)?;
        String::from_utf8(plain).map_err(|_| SealError::Open)
    }
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_with_their_key_only() {
        let sealer = Sealer::from_hex(&"ab".repeat(32)).expect("key");
        let sealed = sealer.seal("client secret");
        assert!(!String::from_utf8_lossy(&sealed).contains("client secret"));
        assert_ne!(
            sealed,
            sealer.seal("client secret"),
            "a fresh nonce each time"
        );
        assert_eq!(sealer.open(&sealed).expect("opens"), "client secret");
        let other = Sealer::from_hex(&"cd".repeat(32)).expect("key");
        assert!(other.open(&sealed).is_err());
        assert!(Sealer::from_hex("short").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn a_generated_key_file_is_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("ferry-seal-{}", std::process::id()));
        let path = dir.join("secret.key");
        let first = Sealer::from_file(&path).expect("created");
        let mode = std::fs::metadata(&path).expect("file").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let sealed = first.seal("x");
        assert_eq!(
            Sealer::from_file(&path)
                .expect("read")
                .open(&sealed)
                .expect("same key"),
            "x"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
