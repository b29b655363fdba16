//! Errors a step returns. Host errors pass through unchanged so the assembly status can say
//! exactly which tool failed and why.

use crate::__bindings::exports::transflow::template::pipeline as wit_pipeline;
use crate::__bindings::transflow::template::types as wit_types;

/// A failed host call: a tool failure, a refused argument, a bad input, a missing file, a limit.
pub type Error = wit_types::Error;

/// Why a step failed.
#[derive(Debug, Clone)]
pub enum StepError {
    /// A host call failed; the host turns it into the status error.
    Host(Error),
    /// A user field has a value the template cannot use.
    InvalidField {
        /// Field name.
        field: String,
        /// The value given.
        value: String,
        /// What would have been accepted.
        expected: String,
    },
    /// The template's own logic failed.
    Failed(String),
}

impl StepError {
    /// A failure with a message for the user.
    pub fn failed(message: impl Into<String>) -> Self {
        StepError::Failed(message.into())
    }

    #[doc(hidden)]
    pub fn into_wit(self) -> wit_pipeline::StepError {
        match self {
            StepError::Host(error) => wit_pipeline::StepError::Host(error),
            StepError::InvalidField { field, value, expected } => {
                wit_pipeline::StepError::InvalidField(wit_pipeline::InvalidField { field, value, expected })
            }
            StepError::Failed(message) => wit_pipeline::StepError::Failed(message),
        }
    }
}

impl From<Error> for StepError {
    fn from(error: Error) -> Self {
        StepError::Host(error)
    }
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepError::Host(error) => write!(f, "{error:?}"),
            StepError::InvalidField { field, value, expected } => {
                write!(f, "field `{field}` is `{value}`; expected {expected}")
            }
            StepError::Failed(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for StepError {}
