//! The server's own CA and serving certificate (rcgen), the rustls configuration, and
//! serving certificates for others signed by the same CA (as the cluster CA signs a
//! kubelet's or yurthub's serving certificate through a CSR).

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use super::SimError;

/// The cluster CA: what signs serving certificates.
pub type Ca = Issuer<'static, KeyPair>;

/// CA certificate (PEM) and the TLS configuration serving a certificate it signed.
pub struct Pki {
    /// PEM of the CA clients must trust.
    pub ca_pem: String,
    /// rustls configuration (ALPN h2 and http/1.1).
    pub server: Arc<rustls::ServerConfig>,
    /// The CA itself, to sign more serving certificates.
    pub ca: Arc<Ca>,
}

/// A serving certificate for `sans` signed by `ca`: (certificate, PKCS#8 key), both rcgen types.
fn leaf(
    sans: &[String],
    common_name: &str,
    ca: &Ca,
) -> Result<(rcgen::Certificate, KeyPair), rcgen::Error> {
    let key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(sans.to_vec())?;
    leaf.distinguished_name
        .push(DnType::CommonName, common_name);
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let cert = leaf.signed_by(&key, ca)?;
    Ok((cert, key))
}

/// A serving certificate and its key (both PEM) for `sans`, signed by `ca`.
pub fn issue(sans: &[String], ca: &Ca) -> Result<(String, String), rcgen::Error> {
    let common_name = sans.first().map(String::as_str).unwrap_or("tether-sim");
    let (cert, key) = leaf(sans, common_name, ca)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// A fresh self-signed CA named `common_name`: its certificate and the issuer.
pub fn new_ca(common_name: &str) -> Result<(rcgen::Certificate, Ca), rcgen::Error> {
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, common_name);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key)?;
    Ok((ca_cert, Issuer::new(ca, ca_key)))
}

/// A fresh CA and a serving certificate for `sans` (DNS names or IP addresses).
pub fn generate(sans: &[String]) -> Result<Pki, SimError> {
    let (ca_cert, issuer) = new_ca("tether-sim-ca")?;
    let (cert, key) = leaf(sans, "kube-apiserver", &issuer)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone(), ca_cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Pki {
        ca_pem: ca_cert.pem(),
        server: Arc::new(server),
        ca: Arc::new(issuer),
    })
}
