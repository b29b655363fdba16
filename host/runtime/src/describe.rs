//! A guest's `describe()` result as the template model of [`transflow_store::template`].

use crate::bindings::TemplateInfo;
use transflow_store::template::{FieldDescription, StepDescription, TemplateDescription, WebhookDescription};

/// Converts a guest's `describe()` result and checks it (see [`TemplateDescription::checked`]).
pub fn describe(info: TemplateInfo) -> Result<TemplateDescription, String> {
    TemplateDescription {
        id: info.id,
        description: info.description,
        steps: info
            .steps
            .into_iter()
            .map(|s| StepDescription { name: s.name, description: s.description, uses: s.uses })
            .collect(),
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
    }
    .checked()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::StepInfo;
    use crate::bindings::exports::transflow::template::pipeline::FieldInfo;
    use transflow_store::template::*;

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
        let d = describe(info(&[("b", &["a"]), ("a", &[ORIGINAL]), ("c", &["a", "b"])])).unwrap();
        let names: Vec<&str> = d.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
    }

    #[test]
    fn rejects_bad_graphs() {
        let cycle = describe(info(&[("a", &["b"]), ("b", &["a"])])).unwrap_err();
        assert!(cycle.contains("cycle"), "{cycle}");
        assert!(describe(info(&[("a", &["nope"])])).unwrap_err().contains("nope"));
        assert!(describe(info(&[("a", &[ORIGINAL]), ("a", &[ORIGINAL])])).is_err());
        assert!(describe(info(&[("../x", &[ORIGINAL])])).is_err());
        assert!(describe(info(&[])).is_err());
        let twice = describe(info(&[("a", &[ORIGINAL, ORIGINAL])])).unwrap_err();
        assert!(twice.contains("uses `:original` twice"), "{twice}");
    }

    /// `count` steps, each using the one declared after it (the last uses the uploads), so the
    /// order is the reverse of the declaration.
    fn chain(count: usize) -> TemplateInfo {
        let names: Vec<String> = (0..count).map(|i| format!("s{i}")).collect();
        let mut info = info(&[]);
        info.steps = names
            .iter()
            .enumerate()
            .map(|(i, name)| StepInfo {
                name: name.clone(),
                description: String::new(),
                uses: vec![names.get(i + 1).cloned().unwrap_or_else(|| ORIGINAL.into())],
            })
            .collect();
        info
    }

    #[test]
    fn step_bombs_are_refused_by_count() {
        let error = describe(chain(10_000)).unwrap_err();
        assert_eq!(error, "template `t` declares 10000 steps; at most 64 are allowed");
        let longest = describe(chain(MAX_STEPS)).unwrap();
        let names: Vec<&str> = longest.steps.iter().map(|s| s.name.as_str()).collect();
        let expected: Vec<String> = (0..MAX_STEPS).rev().map(|i| format!("s{i}")).collect();
        assert_eq!(names, expected);
        let mut wide = chain(2);
        wide.steps[0].uses = (0..=MAX_USES).map(|i| format!("u{i}")).collect();
        let error = describe(wide).unwrap_err();
        assert!(error.contains("65 `uses` entries in step `s0`; at most 64"), "{error}");
    }

    #[test]
    fn fields_and_texts_are_bounded() {
        let field = |name: &str, description: &str| FieldInfo {
            name: name.into(),
            description: description.into(),
            default_value: None,
        };
        let with_fields = |fields| TemplateInfo { fields, ..info(&[("a", &[ORIGINAL])]) };
        let many = with_fields((0..=MAX_FIELDS).map(|i| field(&format!("f{i}"), "")).collect());
        assert!(describe(many).unwrap_err().contains("65 fields; at most 64"));
        let long_name = with_fields(vec![field(&"f".repeat(MAX_FIELD_NAME + 1), "")]);
        assert!(describe(long_name).unwrap_err().contains("1 to 64 bytes"));
        let long_text = with_fields(vec![field("f", &"x".repeat(MAX_TEXT + 1))]);
        let error = describe(long_text).unwrap_err();
        assert!(error.contains("field `f` description has 1001 bytes"), "{error}");
        let twice = with_fields(vec![field("f", ""), field("f", "")]);
        assert!(describe(twice).unwrap_err().contains("documented twice"));
        let long_id = TemplateInfo { id: "x".repeat(10_000), ..info(&[("a", &[ORIGINAL])]) };
        assert!(describe(long_id).unwrap_err().len() < 200);
    }
}
