//! Kubernetes label selectors compiled for fast, repeated matching.
//!
//! Semantics follow `metav1.LabelSelector`: every requirement must hold; `matchLabels` entries
//! are `In` with one value; an empty or absent selector matches everything.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use thiserror::Error;

/// Why a selector cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SelectorError {
    /// An operator other than In, NotIn, Exists, DoesNotExist.
    #[error("unknown operator {0:?}")]
    Operator(String),
    /// In/NotIn without values.
    #[error("operator {0} on key {1:?} needs values")]
    MissingValues(&'static str, String),
    /// Exists/DoesNotExist with values.
    #[error("operator {0} on key {1:?} takes no values")]
    UnexpectedValues(&'static str, String),
    /// An empty key.
    #[error("empty label key")]
    EmptyKey,
}

/// One compiled requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// The label is present with one of the values.
    In(String, BTreeSet<String>),
    /// The label is absent or has none of the values.
    NotIn(String, BTreeSet<String>),
    /// The label is present.
    Exists(String),
    /// The label is absent.
    DoesNotExist(String),
}

/// A compiled selector: all requirements must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

impl Selector {
    /// Compiles a selector; `None` selects everything.
    pub fn compile(selector: Option<&LabelSelector>) -> Result<Self, SelectorError> {
        let Some(selector) = selector else {
            return Ok(Self::default());
        };
        let mut requirements = Vec::new();
        for (key, value) in selector.match_labels.iter().flatten() {
            if key.is_empty() {
                return Err(SelectorError::EmptyKey);
            }
            requirements.push(Requirement::In(
                key.clone(),
                BTreeSet::from([value.clone()]),
            ));
        }
        for expr in selector.match_expressions.iter().flatten() {
            if expr.key.is_empty() {
                return Err(SelectorError::EmptyKey);
            }
            let values: BTreeSet<String> = expr.values.iter().flatten().cloned().collect();
            let key = expr.key.clone();
            let requirement = match expr.operator.as_str() {
                "In" | "NotIn" if values.is_empty() => {
                    let op = if expr.operator == "In" { "In" } else { "NotIn" };
                    return Err(SelectorError::MissingValues(op, key));
                }
                "Exists" | "DoesNotExist" if !values.is_empty() => {
                    let op = if expr.operator == "Exists" {
                        "Exists"
                    } else {
                        "DoesNotExist"
                    };
                    return Err(SelectorError::UnexpectedValues(op, key));
                }
                "In" => Requirement::In(key, values),
                "NotIn" => Requirement::NotIn(key, values),
                "Exists" => Requirement::Exists(key),
                "DoesNotExist" => Requirement::DoesNotExist(key),
                other => return Err(SelectorError::Operator(other.to_owned())),
            };
            requirements.push(requirement);
        }
        Ok(Self { requirements })
    }

    /// Whether the selector selects everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| match r {
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        })
    }
}

#[cfg(test)]
mod tests;
