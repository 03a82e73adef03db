//! Keys of a local installation, kept in the data dir so that tokens, cursors and presigned
//! URLs stay valid across restarts.

use anyhow::Context;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Clone, Serialize, Deserialize)]
pub struct Secrets {
    /// Signs JWTs (HS256), unless `EVENTPULSE_JWT_SECRET` / `--jwt-secret` overrides it.
    pub jwt_secret: String,
    /// Signs pagination cursors.
    pub cursor_key: String,
    /// Signs presigned upload/download URLs.
    pub presign_key: String,
}

fn random_hex() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

pub const FILE: &str = "secrets.json";

impl Secrets {
    /// Loads the data dir's secrets, creating them (mode 0600) on first use.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<(Self, bool)> {
        let path = data_dir.join(FILE);
        if let Ok(text) = std::fs::read_to_string(&path) {
            let s = serde_json::from_str(&text)
                .with_context(|| format!("{} is corrupt", path.display()))?;
            return Ok((s, false));
        }
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let s = Secrets {
            jwt_secret: random_hex(),
            cursor_key: random_hex(),
            presign_key: random_hex(),
        };
        let tmp = data_dir.join(format!("{FILE}.tmp"));
        std::fs::write(&tmp, serde_json::to_vec_pretty(&s)?)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
        }
        std::fs::rename(&tmp, &path)?;
        Ok((s, true))
    }
}
