//! Builders for what `describe()` returns.

use crate::__bindings::exports::transflow::template::pipeline as wit;

/// A template's id, description, steps, fields and optional webhook.
#[derive(Debug, Clone)]
pub struct TemplateInfo {
    id: String,
    description: String,
    steps: Vec<StepInfo>,
    fields: Vec<FieldInfo>,
    webhook: Option<Webhook>,
}

impl TemplateInfo {
    /// A template with no steps yet.
    pub fn new(id: impl Into<String>, description: impl Into<String>) -> Self {
        TemplateInfo {
            id: id.into(),
            description: description.into(),
            steps: Vec::new(),
            fields: Vec::new(),
            webhook: None,
        }
    }

    /// Adds a step; the host runs steps in dependency order.
    pub fn step(mut self, step: StepInfo) -> Self {
        self.steps.push(step);
        self
    }

    /// Documents a user field the template reads.
    pub fn field(mut self, name: &str, description: &str, default_value: Option<&str>) -> Self {
        self.fields.push(FieldInfo {
            name: name.to_owned(),
            description: description.to_owned(),
            default_value: default_value.map(str::to_owned),
        });
        self
    }

    /// Posts the assembly status to `webhook` when an assembly ends.
    pub fn webhook(mut self, webhook: Webhook) -> Self {
        self.webhook = Some(webhook);
        self
    }

    #[doc(hidden)]
    pub fn into_wit(self) -> wit::TemplateInfo {
        wit::TemplateInfo {
            id: self.id,
            description: self.description,
            steps: self
                .steps
                .into_iter()
                .map(|s| wit::StepInfo { name: s.name, description: s.description, uses: s.uses })
                .collect(),
            fields: self
                .fields
                .into_iter()
                .map(|f| wit::FieldInfo {
                    name: f.name,
                    description: f.description,
                    default_value: f.default_value,
                })
                .collect(),
            webhook: self.webhook.map(|w| wit::Webhook { url: w.url, secret_name: w.secret_name }),
        }
    }
}

/// One step of a pipeline.
#[derive(Debug, Clone)]
pub struct StepInfo {
    name: String,
    description: String,
    uses: Vec<String>,
}

impl StepInfo {
    /// A step that uses nothing yet; add [`StepInfo::uses`].
    pub fn new(name: impl Into<String>, description: impl Into<String>) -> Self {
        StepInfo { name: name.into(), description: description.into(), uses: Vec::new() }
    }

    /// Consumes the results of `step`, or the uploads when `step` is [`crate::ORIGINAL`].
    pub fn uses(mut self, step: impl Into<String>) -> Self {
        self.uses.push(step.into());
        self
    }
}

/// A documented user field.
#[derive(Debug, Clone)]
pub struct FieldInfo {
    /// Field name.
    pub name: String,
    /// What it controls and which values it accepts.
    pub description: String,
    /// The value used when it is absent.
    pub default_value: Option<String>,
}

/// Where to POST the assembly status when it ends.
#[derive(Debug, Clone)]
pub struct Webhook {
    /// Endpoint URL.
    pub url: String,
    /// Name of a signing secret in the host configuration (never the secret itself).
    pub secret_name: Option<String>,
}
