//! `tollgate keys generate`: a new signing key as a PKCS#8 PEM file (mode 0600, never overwritten).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use tollgate::credentials::{SigningAlg, SigningKey};

pub fn generate_key(alg: &str, out: &Path) -> anyhow::Result<ExitCode> {
    let alg: SigningAlg = alg.parse().map_err(|_| anyhow::anyhow!("--alg must be ES256, EdDSA or RS256"))?;
    let key = SigningKey::generate(alg)?;
    write_private(out, key.to_pkcs8_pem().as_bytes())?;
    println!("{}", key.kid());
    Ok(ExitCode::SUCCESS)
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file =
        options.open(path).with_context(|| format!("creating {} (it must not exist yet)", path.display()))?;
    file.write_all(bytes)?;
    Ok(())
}
