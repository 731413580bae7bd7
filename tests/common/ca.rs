//! Certificates made for one test (rcgen): a CA that trust stores or `SSL_CERT_FILE` can
//! name, and the server certificates it issues for loopback.

/// A certificate authority made for one test (rcgen), and the certificates it issues.
pub struct TestCa {
    /// The CA certificate, PEM (what a trust store or `SSL_CERT_FILE` holds).
    pub pem: String,
    certificate: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl TestCa {
    /// A new CA called `name`.
    pub fn new(name: &str) -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        let key = rcgen::KeyPair::generate().expect("CA key");
        let certificate = params.self_signed(&key).expect("CA certificate");
        Self { pem: certificate.pem(), certificate, key }
    }

    /// A server certificate for `localhost` and 127.0.0.1: (chain, PKCS#8 key), DER.
    pub fn issue_localhost(&self) -> (Vec<Vec<u8>>, Vec<u8>) {
        let params = rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).expect("server params");
        let key = rcgen::KeyPair::generate().expect("server key");
        let certificate = params.signed_by(&key, &self.certificate, &self.key).expect("server certificate");
        (vec![certificate.der().to_vec()], key.serialize_der())
    }

    /// Writes the CA certificate as a PEM file in `dir`; returns its path.
    pub fn write_pem(&self, dir: &std::path::Path) -> std::path::PathBuf {
        let path = dir.join("test-ca.pem");
        std::fs::write(&path, &self.pem).expect("write CA file");
        path
    }
}
