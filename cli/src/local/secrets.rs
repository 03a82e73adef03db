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
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let s = serde_json::from_str(&text)
                    .with_context(|| format!("{} is corrupt", path.display()))?;
                return Ok((s, false));
            }
            // Only a missing file means "first start": any other error must not replace the
            // keys (that would invalidate every token, cursor and URL issued so far).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        }
        eventpulse_embedded::create_private_dir_all(data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let s = Secrets {
            jwt_secret: random_hex(),
            cursor_key: random_hex(),
            presign_key: random_hex(),
        };
        let tmp = data_dir.join(format!("{FILE}.{}.tmp", std::process::id()));
        {
            use std::io::Write;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            // Readable by the owner only from the moment it exists.
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut f = options
                .open(&tmp)
                .with_context(|| format!("creating {}", tmp.display()))?;
            f.write_all(&serde_json::to_vec_pretty(&s)?)?;
            f.sync_all()?;
        }
        // Two first starts at once: the first rename wins, and both use what is on disk.
        if std::fs::hard_link(&tmp, &path).is_err() {
            let _ = std::fs::remove_file(&tmp);
            return Self::load_or_create(data_dir);
        }
        let _ = std::fs::remove_file(&tmp);
        Ok((s, true))
    }
}
