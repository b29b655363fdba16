//! A template's validated description: its steps in dependency order, fields and webhook.

use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

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
    /// The key an assembly sets it by in its `fields`.
    pub name: String,
    /// What it controls.
    pub description: String,
    /// Value used when absent.
    pub default_value: Option<String>,
}

/// Where the status is posted when an assembly ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDescription {
    /// Where the status is POSTed.
    pub url: String,
    /// Which of `[webhook] secrets` signs the deliveries; unsigned when absent.
    pub secret_name: Option<String>,
}

/// What `describe()` returned, checked: valid names, known `uses`, no cycles; `steps` is in an
/// order where every step comes after the steps it uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateDescription {
    /// The id the template is published under and assemblies ask for.
    pub id: String,
    /// What it does.
    pub description: String,
    /// Steps in dependency order.
    pub steps: Vec<StepDescription>,
    /// The user fields it reads.
    pub fields: Vec<FieldDescription>,
    /// Where every assembly's status goes when it ends, unless the assembly names its own
    /// `notify_url`.
    pub webhook: Option<WebhookDescription>,
}

/// Most steps in a template. Steps run as a graph, each in a fresh instance; the
/// built-in templates have one or two, and a pipeline of more than 64 stages is better split.
/// The bound is checked before anything else, so a `describe()` that returns thousands of
/// steps is refused at once instead of costing the host minutes of ordering.
pub const MAX_STEPS: usize = 64;
/// Most `uses` entries of one step: entries must be distinct and name `:original` or a step,
/// so this loses nothing; it only refuses an oversized list before it is read.
pub const MAX_USES: usize = MAX_STEPS;
/// Most documented user fields.
pub const MAX_FIELDS: usize = 64;
/// Longest field name, in bytes (step names and the id are checked by [`check_name`]).
pub const MAX_FIELD_NAME: usize = 64;
/// Longest description or default value, in bytes: one line for the API and the page.
pub const MAX_TEXT: usize = 1_000;
/// Longest webhook URL, in bytes.
pub const MAX_URL: usize = 2_048;

impl TemplateDescription {
    /// Validates a description a guest gave and puts its steps in dependency order. Every count
    /// is checked against its bound before the entries are read, and the checks and the ordering
    /// take time linear in the size of the description (names are looked up in maps).
    pub fn checked(self) -> Result<TemplateDescription, String> {
        let info = self;
        check_name("template id", &info.id)?;
        let template = &info.id;
        if info.steps.is_empty() {
            return Err(format!("template `{template}` has no steps"));
        }
        check_count(template, "steps", info.steps.len(), MAX_STEPS)?;
        check_count(template, "fields", info.fields.len(), MAX_FIELDS)?;
        check_text(template, "description", &info.description, MAX_TEXT)?;
        let steps = info.steps;
        let mut names = HashSet::with_capacity(steps.len());
        for step in &steps {
            check_name("step name", &step.name)?;
            if !names.insert(step.name.as_str()) {
                return Err(format!("step `{}` is defined twice", step.name));
            }
        }
        for step in &steps {
            let what = format!("step `{}`", step.name);
            check_text(template, &format!("{what} description"), &step.description, MAX_TEXT)?;
            check_count(template, &format!("`uses` entries in {what}"), step.uses.len(), MAX_USES)?;
            if step.uses.is_empty() {
                return Err(format!("{what} uses nothing; add `:original` or a step name"));
            }
            let mut used = HashSet::with_capacity(step.uses.len());
            for entry in &step.uses {
                if entry != ORIGINAL && !names.contains(entry.as_str()) {
                    return Err(format!("{what} uses `{entry}`, which is not a step of this template"));
                }
                if !used.insert(entry.as_str()) {
                    return Err(format!("{what} uses `{entry}` twice"));
                }
            }
        }
        let mut field_names = HashSet::with_capacity(info.fields.len());
        for field in &info.fields {
            if field.name.is_empty() || field.name.len() > MAX_FIELD_NAME {
                return Err(format!(
                    "template `{template}`: field names have 1 to {MAX_FIELD_NAME} bytes; one has {}",
                    field.name.len()
                ));
            }
            if !field_names.insert(field.name.as_str()) {
                return Err(format!("field `{}` is documented twice", field.name));
            }
            let what = format!("field `{}`", field.name);
            check_text(template, &format!("{what} description"), &field.description, MAX_TEXT)?;
            if let Some(default) = &field.default_value {
                check_text(template, &format!("{what} default value"), default, MAX_TEXT)?;
            }
        }
        if let Some(webhook) = &info.webhook {
            check_text(template, "webhook URL", &webhook.url, MAX_URL)?;
            if let Some(secret) = &webhook.secret_name {
                check_text(template, "webhook secret name", secret, MAX_FIELD_NAME)?;
            }
        }
        Ok(TemplateDescription {
            id: info.id,
            description: info.description,
            steps: dependency_order(steps)?,
            fields: info.fields,
            webhook: info.webhook,
        })
    }

    /// The step called `name`.
    pub fn step(&self, name: &str) -> Option<&StepDescription> {
        self.steps.iter().find(|s| s.name == name)
    }
}

fn check_count(template: &str, what: &str, count: usize, max: usize) -> Result<(), String> {
    if count > max {
        return Err(format!("template `{template}` declares {count} {what}; at most {max} are allowed"));
    }
    Ok(())
}

fn check_text(template: &str, what: &str, text: &str, max: usize) -> Result<(), String> {
    if text.len() > max {
        return Err(format!(
            "template `{template}`: the {what} has {} bytes; at most {max} are allowed",
            text.len()
        ));
    }
    Ok(())
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
        let mut shown: String = name.chars().take(64).collect();
        if shown.len() < name.len() {
            shown.push('…');
        }
        Err(format!("{what} `{shown}` must be 1–64 of a-z, 0-9, `-`, `_`, starting with a letter or digit"))
    }
}

/// Kahn's algorithm over maps, keeping declaration order among ready steps (the ready set is
/// a min-heap of declaration indexes): O((steps + uses) · log steps). Every `uses` entry is
/// known and distinct by now.
fn dependency_order(steps: Vec<StepDescription>) -> Result<Vec<StepDescription>, String> {
    let index: HashMap<&str, usize> = steps.iter().enumerate().map(|(i, s)| (s.name.as_str(), i)).collect();
    let mut waiting_on = vec![0usize; steps.len()];
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); steps.len()];
    for (i, step) in steps.iter().enumerate() {
        for used in step.uses.iter().filter(|u| *u != ORIGINAL) {
            waiting_on[i] += 1;
            users[index[used.as_str()]].push(i);
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> =
        (0..steps.len()).filter(|&i| waiting_on[i] == 0).map(Reverse).collect();
    let mut order = Vec::with_capacity(steps.len());
    while let Some(Reverse(i)) = ready.pop() {
        order.push(i);
        for &user in &users[i] {
            waiting_on[user] -= 1;
            if waiting_on[user] == 0 {
                ready.push(Reverse(user));
            }
        }
    }
    if order.len() < steps.len() {
        let stuck: Vec<&str> =
            steps.iter().zip(&waiting_on).filter(|(_, n)| **n > 0).map(|(s, _)| s.name.as_str()).collect();
        return Err(format!("steps {} depend on each other in a cycle", stuck.join(", ")));
    }
    let mut slots: Vec<Option<StepDescription>> = steps.into_iter().map(Some).collect();
    Ok(order.into_iter().map(|i| slots[i].take().expect("each step is ordered once")).collect())
}
