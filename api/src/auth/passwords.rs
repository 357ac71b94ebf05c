//! Password hashing: argon2id with a random salt, stored as a PHC string
//! (which carries its parameters, so raising them later re-hashes nobody
//! and verifies everybody).
//!
//! Production parameters are the OWASP recommendation for argon2id: 19 MiB
//! of memory, 2 iterations, 1 lane (`FRONTDESK_ARGON2_MEMORY_KIB=19456`,
//! `FRONTDESK_ARGON2_ITERATIONS=2`), about 20-40 ms per hash on one core.
//! Tests lower them so a sign-in costs microseconds. Hashing runs on the
//! blocking pool so it never stalls the async workers.

use std::sync::{Arc, OnceLock};

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use zeroize::Zeroizing;

use crate::ApiError;

pub const MIN_LENGTH: usize = 10;
/// Long enough for any passphrase, short enough that hashing cannot be
/// used to burn our CPU.
pub const MAX_LENGTH: usize = 256;

#[derive(Clone, Debug)]
pub struct Passwords {
    params: Params,
    /// A hash of nothing anyone knows, verified when the email is unknown so
    /// that a miss costs as long as a wrong password.
    decoy: Arc<OnceLock<String>>,
}

impl Passwords {
    pub fn new(memory_kib: u32, iterations: u32) -> Result<Self, String> {
        let params = Params::new(memory_kib.max(8), iterations.max(1), 1, None).map_err(|e| e.to_string())?;
        Ok(Self { params, decoy: Arc::default() })
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    pub async fn hash(&self, password: &str) -> Result<String, ApiError> {
        let (this, password) = (self.clone(), Zeroizing::new(password.to_owned()));
        tokio::task::spawn_blocking(move || this.hash_now(&password))
            .await
            .map_err(|e| ApiError::Internal(Box::new(e)))?
    }

    fn hash_now(&self, password: &str) -> Result<String, ApiError> {
        self.argon2()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| ApiError::Internal(format!("argon2: {e}").into()))
    }

    /// Whether `password` matches `stored`; with no stored hash (unknown
    /// email, invitation not accepted) it still does the work, and fails.
    pub async fn verify(&self, password: &str, stored: Option<String>) -> Result<bool, ApiError> {
        let (this, password) = (self.clone(), Zeroizing::new(password.to_owned()));
        tokio::task::spawn_blocking(move || {
            let decoy;
            let (phc, real) = match &stored {
                Some(phc) => (phc.as_str(), true),
                None => {
                    decoy = this.decoy.get_or_init(|| this.hash_now("not a password anyone has").unwrap_or_default());
                    (decoy.as_str(), false)
                }
            };
            let ok = this.argon2().verify_password(password.as_bytes(), phc).is_ok();
            Ok(ok && real)
        })
        .await
        .map_err(|e| ApiError::Internal(Box::new(e)))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only_and_is_argon2id() {
        let p = Passwords::new(64, 1).unwrap();
        let phc = p.hash("correct horse battery").await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
        assert!(p.verify("correct horse battery", Some(phc.clone())).await.unwrap());
        assert!(!p.verify("correct horse batterz", Some(phc)).await.unwrap());
        assert!(!p.verify("not a password anyone has", None).await.unwrap(), "the decoy never signs anyone in");
    }
}
