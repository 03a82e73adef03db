//! Builds DynamoDB expressions with every attribute name and value as a placeholder, so no
//! attribute ever collides with one of DynamoDB's reserved words (`status`, `key`, `query`,
//! …) and only the placeholders an expression uses are sent (DynamoDB refuses unused ones).

use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

#[derive(Debug, Default)]
pub(crate) struct Expr {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
    set: Vec<String>,
    remove: Vec<String>,
    add: Vec<String>,
    delete: Vec<String>,
}

impl Expr {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// `#attr`, the placeholder of an attribute name.
    pub(crate) fn name(&mut self, attr: &str) -> String {
        let p = format!("#{attr}");
        self.names.insert(p.clone(), attr.to_string());
        p
    }

    /// `:label`, the placeholder of a value.
    pub(crate) fn value(&mut self, label: &str, v: AttributeValue) -> String {
        let p = format!(":{label}");
        self.values.insert(p.clone(), v);
        p
    }

    pub(crate) fn set(&mut self, attr: &str, v: AttributeValue) -> &mut Self {
        let (n, v) = (self.name(attr), self.value(attr, v));
        self.set.push(format!("{n} = {v}"));
        self
    }

    /// Sets the attribute only where the item does not have it yet.
    pub(crate) fn set_if_absent(&mut self, attr: &str, v: AttributeValue) -> &mut Self {
        let (n, v) = (self.name(attr), self.value(attr, v));
        self.set.push(format!("{n} = if_not_exists({n}, {v})"));
        self
    }

    /// Sets the attribute to `v`, or removes it when `None`.
    pub(crate) fn set_or_remove(&mut self, attr: &str, v: Option<AttributeValue>) -> &mut Self {
        match v {
            Some(v) => self.set(attr, v),
            None => self.remove(attr),
        }
    }

    pub(crate) fn remove(&mut self, attr: &str) -> &mut Self {
        let n = self.name(attr);
        self.remove.push(n);
        self
    }

    /// Adds to a number or a set.
    pub(crate) fn add(&mut self, attr: &str, v: AttributeValue) -> &mut Self {
        let (n, v) = (self.name(attr), self.value(attr, v));
        self.add.push(format!("{n} {v}"));
        self
    }

    /// Removes members from a set.
    pub(crate) fn delete(&mut self, attr: &str, v: AttributeValue) -> &mut Self {
        let (n, v) = (self.name(attr), self.value(attr, v));
        self.delete.push(format!("{n} {v}"));
        self
    }

    /// The update expression of the clauses added so far.
    pub(crate) fn update(&self) -> String {
        [
            ("SET", &self.set),
            ("REMOVE", &self.remove),
            ("ADD", &self.add),
            ("DELETE", &self.delete),
        ]
        .iter()
        .filter(|(_, parts)| !parts.is_empty())
        .map(|(verb, parts)| format!("{verb} {}", parts.join(", ")))
        .collect::<Vec<_>>()
        .join(" ")
    }

    /// The placeholders used, for `expression_attribute_names` (`None` when there are none:
    /// DynamoDB refuses an empty map).
    pub(crate) fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    pub(crate) fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_and_placeholders() {
        let mut e = Expr::new();
        e.set("status", AttributeValue::S("stored".into()))
            .set_if_absent("createdAt", AttributeValue::S("t".into()))
            .set_or_remove("eventCount", None)
            .add("v", AttributeValue::N("1".into()));
        assert_eq!(
            e.update(),
            "SET #status = :status, #createdAt = if_not_exists(#createdAt, :createdAt) \
             REMOVE #eventCount ADD #v :v"
        );
        assert_eq!(e.names().map(|n| n.len()), Some(4));
        assert_eq!(e.values().map(|v| v.len()), Some(3));
        assert!(Expr::new().names().is_none());
    }
}
