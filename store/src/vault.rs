//! The credential vault: AES-256-GCM with a random 96-bit nonce per seal.
//!
//! The associated data binds each ciphertext to (workspace, provider, key
//! version), so a ciphertext copied into another workspace's row — or
//! relabelled as another provider's or another key's — fails to open.
//! Master keys are versioned; the newest seals, any configured one opens,
//! which is what lets `frontdesk keys rotate` run without downtime.

use std::{collections::BTreeMap, fmt, str::FromStr, sync::Arc};

use aes_gcm::{
    Aes256Gcm, Key, KeyInit, Nonce,
    aead::{Aead, Generate, Payload},
};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use frontdesk_jobs::WorkspaceId;
use hmac::Mac;
use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("invalid master key list: {0}")]
    BadKeyList(String),
    #[error("no master key with version {0} is configured")]
    UnknownKeyVersion(i32),
    #[error("ciphertext failed authentication (wrong workspace, provider or key, or tampered)")]
    Authentication,
    #[error("decrypted secret is not UTF-8")]
    NotUtf8,
}

/// A decrypted credential. Its `Debug` and `Display` never print the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The only way to read the value; grep for it when auditing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(\"***\")")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Versioned master keys, parsed from `FRONTDESK_MASTER_KEYS`:
/// `<version>:<base64 of 32 bytes>[,<version>:<base64>...]`.
#[derive(Clone)]
pub struct MasterKeys(BTreeMap<i32, Key<Aes256Gcm>>);

impl MasterKeys {
    pub fn newest_version(&self) -> i32 {
        *self.0.keys().next_back().expect("MasterKeys is never empty")
    }

    /// A fresh random key list with one version, in the env-var format.
    pub fn generate_encoded(version: i32) -> String {
        let key = Key::<Aes256Gcm>::generate();
        format!("{version}:{}", STANDARD.encode(key.as_slice()))
    }
}

impl FromStr for MasterKeys {
    type Err = VaultError;

    fn from_str(list: &str) -> Result<Self, Self::Err> {
        let mut keys = BTreeMap::new();
        for (i, entry) in list.split(',').map(str::trim).filter(|e| !e.is_empty()).enumerate() {
            // Errors name the entry's position, never its content: it is key material.
            let bad = |why: &str| VaultError::BadKeyList(format!("entry {}: {why}", i + 1));
            let (version, encoded) = entry.split_once(':').ok_or_else(|| bad("expected <version>:<base64>"))?;
            let version: i32 =
                version.trim().trim_start_matches('v').parse().map_err(|_| bad("version is not a number"))?;
            if version < 1 {
                return Err(bad("version must be 1 or more"));
            }
            let bytes = Zeroizing::new(STANDARD.decode(encoded.trim()).map_err(|_| bad("key is not base64"))?);
            let key = Key::<Aes256Gcm>::try_from(bytes.as_slice()).map_err(|_| bad("key must be exactly 32 bytes"))?;
            if keys.insert(version, key).is_some() {
                return Err(bad("duplicate version"));
            }
        }
        if keys.is_empty() {
            return Err(VaultError::BadKeyList("no keys given".into()));
        }
        Ok(Self(keys))
    }
}

impl fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKeys").field("versions", &self.0.keys().collect::<Vec<_>>()).finish_non_exhaustive()
    }
}

/// What is stored in an `integrations` row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    pub ciphertext: Vec<u8>,
    pub nonce: Vec<u8>,
    pub key_version: i32,
}

#[derive(Clone, Debug)]
pub struct Vault {
    keys: Arc<MasterKeys>,
}

impl Vault {
    pub fn new(keys: MasterKeys) -> Self {
        Self { keys: Arc::new(keys) }
    }

    pub fn newest_version(&self) -> i32 {
        self.keys.newest_version()
    }

    pub fn seal(&self, workspace_id: WorkspaceId, provider: &str, secret: &Secret) -> Sealed {
        let version = self.newest_version();
        let cipher = self.cipher(version).expect("newest version is configured");
        let nonce = Nonce::generate();
        let aad = associated_data(workspace_id, provider, version);
        let ciphertext = cipher
            .encrypt(&nonce, Payload { msg: secret.expose().as_bytes(), aad: &aad })
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        Sealed { ciphertext, nonce: nonce.to_vec(), key_version: version }
    }

    pub fn open(&self, workspace_id: WorkspaceId, provider: &str, sealed: &Sealed) -> Result<Secret, VaultError> {
        let cipher = self.cipher(sealed.key_version)?;
        let nonce = Nonce::try_from(sealed.nonce.as_slice()).map_err(|_| VaultError::Authentication)?;
        let aad = associated_data(workspace_id, provider, sealed.key_version);
        let plain = Zeroizing::new(
            cipher
                .decrypt(&nonce, Payload { msg: &sealed.ciphertext, aad: &aad })
                .map_err(|_| VaultError::Authentication)?,
        );
        let text = std::str::from_utf8(&plain).map_err(|_| VaultError::NotUtf8)?;
        Ok(Secret::new(text))
    }

    fn cipher(&self, version: i32) -> Result<Aes256Gcm, VaultError> {
        let key = self.keys.0.get(&version).ok_or(VaultError::UnknownKeyVersion(version))?;
        Ok(Aes256Gcm::new(key))
    }
}

/// Length-prefix-free but unambiguous: uuids and versions are fixed-form and
/// provider names contain no `|`.
fn associated_data(workspace_id: WorkspaceId, provider: &str, version: i32) -> Vec<u8> {
    format!("frontdesk-credential|{workspace_id}|{provider}|{version}").into_bytes()
}

/// The purpose bound into one-click email unsubscribe links.
pub const UNSUBSCRIBE_EMAIL: &str = "unsubscribe-email";
/// The reference to a follow-up a send hands its provider, which the
/// provider echoes back in status callbacks (`<followup id>.<token>`).
pub const SEND_REFERENCE: &str = "send-reference";

/// Tokens in links and references we send (one-click unsubscribe, status
/// callback references): `<key version>.<base64url
/// HMAC-SHA256>` over (purpose, workspace, message), keyed by a key derived
/// from a master key, so a link names its workspace and cannot be forged or
/// moved to another workspace or lead. Older key versions keep verifying
/// while they stay configured.
impl Vault {
    pub fn link_token(&self, workspace_id: WorkspaceId, purpose: &str, message: &str) -> String {
        let version = self.newest_version();
        let mac = self.link_mac(version, workspace_id, purpose, message).expect("newest version is configured");
        format!("{version}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    /// Constant-time check of a token from [`Vault::link_token`].
    pub fn verify_link_token(&self, workspace_id: WorkspaceId, purpose: &str, message: &str, token: &str) -> bool {
        let Some((version, mac)) = token.split_once('.') else { return false };
        let (Ok(version), Ok(given)) = (version.parse::<i32>(), URL_SAFE_NO_PAD.decode(mac)) else { return false };
        let Some(expected) = self.link_mac(version, workspace_id, purpose, message) else { return false };
        expected.verify_slice(&given).is_ok()
    }

    fn link_mac(
        &self,
        version: i32,
        workspace_id: WorkspaceId,
        purpose: &str,
        message: &str,
    ) -> Option<hmac::Hmac<sha2::Sha256>> {
        let master = self.keys.0.get(&version)?;
        // A key of its own for links: the AES key itself is never used as a MAC key.
        let mut derive = hmac::Hmac::<sha2::Sha256>::new_from_slice(master.as_slice()).ok()?;
        derive.update(b"frontdesk link tokens v1");
        let key = derive.finalize().into_bytes();
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).ok()?;
        for part in [purpose.as_bytes(), workspace_id.to_string().as_bytes(), message.as_bytes()] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        Some(mac)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault(list: &str) -> Vault {
        Vault::new(list.parse().unwrap())
    }

    #[test]
    fn link_tokens_bind_purpose_workspace_and_message_and_survive_adding_a_key() {
        let (a, b) = (WorkspaceId::new(), WorkspaceId::new());
        let one: MasterKeys = MasterKeys::generate_encoded(1).parse().unwrap();
        let vault = Vault::new(one.clone());
        let token = vault.link_token(a, "unsubscribe", "lead-1");
        assert!(vault.verify_link_token(a, "unsubscribe", "lead-1", &token));
        assert!(!vault.verify_link_token(b, "unsubscribe", "lead-1", &token), "another workspace");
        assert!(!vault.verify_link_token(a, "unsubscribe", "lead-2", &token), "another lead");
        assert!(!vault.verify_link_token(a, "other", "lead-1", &token), "another purpose");
        let mut tampered = token.clone();
        tampered.pop();
        assert!(!vault.verify_link_token(a, "unsubscribe", "lead-1", &tampered));
        assert!(!vault.verify_link_token(a, "unsubscribe", "lead-1", "garbage"));
        // After a second key is added, version-1 links still verify.
        let both = format!("{},{}", encoded_of(&one, 1), MasterKeys::generate_encoded(2));
        let rotated = Vault::new(both.parse().unwrap());
        assert!(rotated.verify_link_token(a, "unsubscribe", "lead-1", &token));
        assert!(rotated.link_token(a, "unsubscribe", "lead-1").starts_with("2."));
    }

    fn encoded_of(keys: &MasterKeys, version: i32) -> String {
        format!("{version}:{}", STANDARD.encode(keys.0[&version].as_slice()))
    }

    #[test]
    fn secret_debug_and_display_are_redacted() {
        let s = Secret::new("sk_live_hunter2");
        assert_eq!(format!("{s:?}"), "Secret(\"***\")");
        assert_eq!(format!("{s}"), "***");
    }

    #[test]
    fn master_keys_debug_shows_versions_only() {
        let encoded = MasterKeys::generate_encoded(3);
        let keys: MasterKeys = encoded.parse().unwrap();
        let shown = format!("{keys:?}");
        assert!(shown.contains('3'));
        assert!(!shown.contains(encoded.split_once(':').unwrap().1));
    }

    #[test]
    fn bad_key_lists_are_rejected_without_echoing_key_material() {
        for bad in ["", "1", "x:AAAA", "1:not base64!", "1:AAAA", "0:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="] {
            let err = bad.parse::<MasterKeys>().unwrap_err().to_string();
            assert!(!err.contains("AAAA") && !err.contains("not base64!"), "{err}");
        }
    }

    #[test]
    fn seal_then_open_round_trips_and_uses_fresh_nonces() {
        let v = vault(&MasterKeys::generate_encoded(1));
        let ws = WorkspaceId::new();
        let a = v.seal(ws, "twilio", &Secret::new("token"));
        let b = v.seal(ws, "twilio", &Secret::new("token"));
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
        assert_eq!(v.open(ws, "twilio", &a).unwrap().expose(), "token");
    }

    #[test]
    fn ciphertext_does_not_open_for_another_workspace_provider_or_version() {
        let keys = format!("{},{}", MasterKeys::generate_encoded(1), MasterKeys::generate_encoded(2));
        let v = vault(&keys);
        let ws = WorkspaceId::new();
        let sealed = v.seal(ws, "twilio", &Secret::new("token"));
        assert!(matches!(v.open(WorkspaceId::new(), "twilio", &sealed), Err(VaultError::Authentication)));
        assert!(matches!(v.open(ws, "smtp", &sealed), Err(VaultError::Authentication)));
        let relabelled = Sealed { key_version: 1, ..sealed.clone() };
        assert!(v.open(ws, "twilio", &relabelled).is_err());
        let mut tampered = sealed.clone();
        tampered.ciphertext[0] ^= 1;
        assert!(matches!(v.open(ws, "twilio", &tampered), Err(VaultError::Authentication)));
    }
}
