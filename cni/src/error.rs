//! Errors with the codes of the CNI specification, and their JSON form on stdout.

use serde::Serialize;

use crate::spec::CniVersion;

/// Error codes of CNI spec 1.1.0 ("Error" section), plus tether's own (100 and above).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// 1: the `cniVersion` is not one the plugin speaks.
    IncompatibleVersion,
    /// 2: a field of the network configuration is not supported.
    UnsupportedField,
    /// 3: the container is unknown or does not exist.
    UnknownContainer,
    /// 4: a required `CNI_*` environment variable is missing or invalid.
    InvalidEnvironment,
    /// 5: reading or writing a file failed.
    Io,
    /// 6: stdin or a delegate's output could not be decoded.
    Decode,
    /// 7: the network configuration is invalid.
    InvalidConfig,
    /// 11: a transient failure; the runtime should try again later.
    TryAgainLater,
    /// 50: the plugin is not available (STATUS).
    NotAvailable,
    /// 100: a delegate plugin is not in `CNI_PATH`.
    DelegateNotFound,
    /// 101: a delegate plugin failed without saying why in the spec's error format.
    DelegateFailed,
    /// Any code a delegate reported, passed through unchanged.
    Other(u32),
}

impl Code {
    /// The number the spec assigns.
    pub fn number(self) -> u32 {
        match self {
            Code::IncompatibleVersion => 1,
            Code::UnsupportedField => 2,
            Code::UnknownContainer => 3,
            Code::InvalidEnvironment => 4,
            Code::Io => 5,
            Code::Decode => 6,
            Code::InvalidConfig => 7,
            Code::TryAgainLater => 11,
            Code::NotAvailable => 50,
            Code::DelegateNotFound => 100,
            Code::DelegateFailed => 101,
            Code::Other(n) => n,
        }
    }
}

/// A failed command as the runtime sees it: a code, a short message and details.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{msg}{}", if details.is_empty() { String::new() } else { format!(": {details}") })]
pub struct CniError {
    /// What kind of failure it is.
    pub code: Code,
    /// One line saying what failed.
    pub msg: String,
    /// Why, with the names of the files, variables or plugins involved.
    pub details: String,
}

impl CniError {
    /// An error with a message and no details.
    pub fn new(code: Code, msg: impl Into<String>) -> Self {
        Self {
            code,
            msg: msg.into(),
            details: String::new(),
        }
    }

    /// The same error with `details`.
    pub fn with_details(mut self, details: impl Into<String>) -> Self {
        self.details = details.into();
        self
    }

    /// The spec's error JSON, answering in `version`.
    pub fn to_json(&self, version: CniVersion) -> String {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Wire<'a> {
            cni_version: &'a str,
            code: u32,
            msg: &'a str,
            details: &'a str,
        }
        let wire = Wire {
            cni_version: version.as_str(),
            code: self.code.number(),
            msg: &self.msg,
            details: &self.details,
        };
        // Serialising plain strings and integers cannot fail.
        serde_json::to_string(&wire).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_specs() {
        let expected = [
            (Code::IncompatibleVersion, 1),
            (Code::UnsupportedField, 2),
            (Code::UnknownContainer, 3),
            (Code::InvalidEnvironment, 4),
            (Code::Io, 5),
            (Code::Decode, 6),
            (Code::InvalidConfig, 7),
            (Code::TryAgainLater, 11),
            (Code::NotAvailable, 50),
            (Code::DelegateNotFound, 100),
            (Code::DelegateFailed, 101),
            (Code::Other(42), 42),
        ];
        for (code, n) in expected {
            assert_eq!(code.number(), n, "{code:?}");
        }
    }

    #[test]
    fn json_has_every_field_the_spec_names() {
        let err = CniError::new(Code::InvalidEnvironment, "CNI_IFNAME is missing")
            .with_details("set by the runtime");
        let v: serde_json::Value = serde_json::from_str(&err.to_json(CniVersion::V0_3_1)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"cniVersion": "0.3.1", "code": 4,
                "msg": "CNI_IFNAME is missing", "details": "set by the runtime"})
        );
    }

    #[test]
    fn details_are_always_present() {
        let err = CniError::new(Code::TryAgainLater, "agent busy");
        assert_eq!(
            err.to_json(CniVersion::V1_1_0),
            r#"{"cniVersion":"1.1.0","code":11,"msg":"agent busy","details":""}"#
        );
        assert_eq!(err.to_string(), "agent busy");
    }
}
