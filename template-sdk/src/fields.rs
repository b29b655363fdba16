//! Reading the assembly's user fields with defaults and validation.

use crate::__bindings::transflow::template::workspace;
use crate::{Context, StepError};
use std::ops::RangeInclusive;
use std::str::FromStr;

impl Context {
    /// The raw value of a user field.
    pub fn field(&self, name: &str) -> Option<String> {
        workspace::fields().into_iter().find(|(key, _)| key == name).map(|(_, value)| value)
    }

    /// A number field within `range`, or `default` when absent.
    pub fn field_in<T>(&self, name: &str, default: T, range: RangeInclusive<T>) -> Result<T, StepError>
    where
        T: FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        let Some(raw) = self.field(name) else { return Ok(default) };
        let expected = || format!("a number from {} to {}", range.start(), range.end());
        match raw.trim().parse::<T>() {
            Ok(value) if range.contains(&value) => Ok(value),
            _ => Err(StepError::InvalidField { field: name.to_owned(), value: raw, expected: expected() }),
        }
    }

    /// One of `choices` (case-insensitive, returned as listed), or `default` when absent.
    pub fn field_choice(&self, name: &str, default: &str, choices: &[&str]) -> Result<String, StepError> {
        let Some(raw) = self.field(name) else { return Ok(default.to_owned()) };
        choices
            .iter()
            .find(|choice| choice.eq_ignore_ascii_case(raw.trim()))
            .map(|choice| (*choice).to_owned())
            .ok_or_else(|| StepError::InvalidField {
                field: name.to_owned(),
                value: raw,
                expected: format!("one of {}", choices.join(", ")),
            })
    }

    /// A yes/no field (`true`/`false`, `yes`/`no`, `1`/`0`), or `default` when absent.
    pub fn field_bool(&self, name: &str, default: bool) -> Result<bool, StepError> {
        let Some(raw) = self.field(name) else { return Ok(default) };
        match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" | "on" => Ok(true),
            "false" | "no" | "0" | "off" => Ok(false),
            _ => Err(StepError::InvalidField {
                field: name.to_owned(),
                value: raw,
                expected: "true or false".into(),
            }),
        }
    }
}
