//! A template's validated description: its steps in dependency order, fields and webhook.

use crate::bindings::TemplateInfo;
use serde::{Deserialize, Serialize};

/// The `uses` entry meaning "the assembly's uploads".
pub const ORIGINAL: &str = ":original";

/// One step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepDescription {
    /// Step name, unique in the template.
    pub name: String,
    /// What it makes.
    pub description: String,
    /// `:original` and/or earlier step names.
    pub uses: Vec<String>,
}

/// A documented user field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDescription {
    /// Field name.
    pub name: String,
    /// What it controls.
    pub description: String,
    /// Value used when absent.
    pub default_value: Option<String>,
}

/// Where the status is posted when an assembly ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDescription {
    /// Endpoint.
    pub url: String,
    /// Name of a configured signing secret.
    pub secret_name: Option<String>,
}

/// What `describe()` returned, checked: valid names, known `uses`, no cycles; `steps` is in an
/// order where every step comes after the steps it uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateDescription {
    /// Template id.
    pub id: String,
    /// What it does.
    pub description: String,
    /// Steps in dependency order.
    pub steps: Vec<StepDescription>,
    /// User fields.
    pub fields: Vec<FieldDescription>,
    /// Optional webhook.
    pub webhook: Option<WebhookDescription>,
}

impl TemplateDescription {
    /// Converts and validates a guest's `describe()` result.
    pub fn from_wit(info: TemplateInfo) -> Result<TemplateDescription, String> {
        check_name("template id", &info.id)?;
        if info.steps.is_empty() {
            return Err(format!("template `{}` has no steps", info.id));
        }
        let steps: Vec<StepDescription> = info
            .steps
            .into_iter()
            .map(|s| StepDescription { name: s.name, description: s.description, uses: s.uses })
            .collect();
        for step in &steps {
            check_name("step name", &step.name)?;
            if steps.iter().filter(|other| other.name == step.name).count() > 1 {
                return Err(format!("step `{}` is defined twice", step.name));
            }
            if step.uses.is_empty() {
                return Err(format!("step `{}` uses nothing; add `:original` or a step name", step.name));
            }
            for used in &step.uses {
                if used != ORIGINAL && !steps.iter().any(|other| &other.name == used) {
                    return Err(format!(
                        "step `{}` uses `{used}`, which is not a step of this template",
                        step.name
                    ));
                }
            }
        }
        Ok(TemplateDescription {
            id: info.id,
            description: info.description,
            steps: dependency_order(steps)?,
            fields: info
                .fields
                .into_iter()
                .map(|f| FieldDescription {
                    name: f.name,
                    description: f.description,
                    default_value: f.default_value,
                })
                .collect(),
            webhook: info.webhook.map(|w| WebhookDescription { url: w.url, secret_name: w.secret_name }),
        })
    }

    /// The step called `name`.
    pub fn step(&self, name: &str) -> Option<&StepDescription> {
        self.steps.iter().find(|s| s.name == name)
    }
}

/// Names go into paths and URLs: lower-case ASCII letters, digits, `-` and `_`, 1–64 bytes,
/// starting with a letter or digit.
pub fn check_name(what: &str, name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(format!("{what} `{name}` must be 1–64 of a-z, 0-9, `-`, `_`, starting with a letter or digit"))
    }
}

/// Kahn's algorithm, keeping declaration order among ready steps.
fn dependency_order(mut pending: Vec<StepDescription>) -> Result<Vec<StepDescription>, String> {
    let mut ordered: Vec<StepDescription> = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let ready = pending.iter().position(|step| {
            step.uses.iter().all(|u| u == ORIGINAL || ordered.iter().any(|done| &done.name == u))
        });
        match ready {
            Some(index) => ordered.push(pending.remove(index)),
            None => {
                let names: Vec<&str> = pending.iter().map(|s| s.name.as_str()).collect();
                return Err(format!("steps {} depend on each other in a cycle", names.join(", ")));
            }
        }
    }
    Ok(ordered)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::StepInfo;

    fn info(steps: &[(&str, &[&str])]) -> TemplateInfo {
        TemplateInfo {
            id: "t".into(),
            description: String::new(),
            steps: steps
                .iter()
                .map(|(name, uses)| StepInfo {
                    name: (*name).into(),
                    description: String::new(),
                    uses: uses.iter().map(|u| (*u).into()).collect(),
                })
                .collect(),
            fields: vec![],
            webhook: None,
        }
    }

    #[test]
    fn orders_steps_by_dependency() {
        let d = TemplateDescription::from_wit(info(&[("b", &["a"]), ("a", &[ORIGINAL]), ("c", &["a", "b"])]))
            .unwrap();
        let names: Vec<&str> = d.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
    }

    #[test]
    fn rejects_bad_graphs() {
        let cycle = TemplateDescription::from_wit(info(&[("a", &["b"]), ("b", &["a"])])).unwrap_err();
        assert!(cycle.contains("cycle"), "{cycle}");
        assert!(TemplateDescription::from_wit(info(&[("a", &["nope"])])).unwrap_err().contains("nope"));
        assert!(TemplateDescription::from_wit(info(&[("a", &[ORIGINAL]), ("a", &[ORIGINAL])])).is_err());
        assert!(TemplateDescription::from_wit(info(&[("../x", &[ORIGINAL])])).is_err());
        assert!(TemplateDescription::from_wit(info(&[])).is_err());
    }
}
