//! Which certificate authorities webhook deliveries trust: the system's trust store, the
//! PEM bundle named by `SSL_CERT_FILE` (and the directories in `SSL_CERT_DIR`), and a
//! PEM bundle given with `--webhook-ca-file`. All of them at once: naming a private CA
//! does not stop public endpoints from verifying.

use rustls::pki_types::CertificateDer;
use std::path::Path;

/// Where Linux and BSD systems keep their CA bundle (the first one found is read; it is
/// read even when `SSL_CERT_FILE` names another bundle, which would otherwise replace it).
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Alpine, Arch
    "/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL
    "/etc/ssl/ca-bundle.pem",             // openSUSE
    "/etc/ssl/cert.pem",                  // macOS, BSD, Alpine
];

/// Every root certificate deliveries trust. A `ca_file` that cannot be read or holds no
/// certificate is an error (it was asked for); trouble with the system store or
/// `SSL_CERT_FILE` is logged, and an empty result is an error.
pub fn trusted_roots(ca_file: Option<&Path>) -> Result<Vec<CertificateDer<'static>>, String> {
    let mut roots = Vec::new();
    // The platform's store, or `SSL_CERT_FILE`/`SSL_CERT_DIR` when set.
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::warn!(%error, "could not read some trusted certificates");
    }
    roots.extend(native.certs);
    if let Some(bundle) = SYSTEM_BUNDLES.iter().map(Path::new).find(|path| path.is_file()) {
        roots.extend(rustls_native_certs::load_certs_from_paths(Some(bundle), None).certs);
    }
    if let Some(path) = ca_file {
        roots.extend(read_pem_bundle(path)?);
    }
    if roots.is_empty() {
        return Err("no trusted root certificates found (install ca-certificates, or set SSL_CERT_FILE)".to_owned());
    }
    Ok(roots)
}

/// The certificates in a PEM file; an error names the file when it cannot be read or
/// holds none.
pub fn read_pem_bundle(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let loaded = rustls_native_certs::load_certs_from_paths(Some(path), None);
    if let Some(error) = loaded.errors.first() {
        return Err(format!("cannot read CA file {}: {error}", path.display()));
    }
    if loaded.certs.is_empty() {
        return Err(format!("CA file {} holds no PEM certificate", path.display()));
    }
    Ok(loaded.certs)
}

/// The TLS error under an HTTP client error, if that is what it is (rustls errors are
/// wrapped in I/O errors, whose `source` skips them: look inside those too).
pub fn tls_error<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        // An I/O error's `source` is its inner error's source: step into the inner error.
        current = match error.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => error.source(),
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_that_is_missing_or_empty_is_refused_by_name() {
        let missing = read_pem_bundle(Path::new("/nonexistent/ca.pem")).unwrap_err();
        assert!(missing.contains("/nonexistent/ca.pem"), "{missing}");
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let refused = trusted_roots(Some(&empty)).unwrap_err();
        assert!(refused.contains("holds no PEM certificate"), "{refused}");
    }

    #[test]
    fn tls_errors_are_found_inside_io_errors() {
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, rustls::Error::NoCertificatesPresented);
        assert_eq!(tls_error(&io), Some(&rustls::Error::NoCertificatesPresented));
        assert_eq!(tls_error(&std::io::Error::other("plain")), None);
        // As the HTTP client wraps it: an I/O error inside an I/O error.
        let nested = std::io::Error::other(std::io::Error::new(std::io::ErrorKind::InvalidData, rustls::Error::NoCertificatesPresented));
        assert_eq!(tls_error(&nested), Some(&rustls::Error::NoCertificatesPresented));
    }
}
