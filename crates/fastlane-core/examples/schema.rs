//! Prints `config/fastlane.schema.json`, the JSON Schema (draft 2020-12) of the config document,
//! derived from `fastlane_core::config::Config`. `npm run generate` writes it; `npm run
//! check:generated` fails when the checked-in file differs.

use schemars::generate::SchemaSettings;
use schemars::transform::{RecursiveTransform, RestrictFormats};
use schemars::Schema;

fn main() {
    let settings = SchemaSettings::draft2020_12().with(|s| {
        // `uint16` and the like are not JSON Schema formats; the bounds already say them.
        s.transforms.push(Box::new(RestrictFormats::default()));
        s.transforms
            .push(Box::new(RecursiveTransform(absent_means_none)));
        s.transforms
            .push(Box::new(RecursiveTransform(one_line_descriptions)));
    });
    let schema = settings
        .into_generator()
        .into_root_schema_for::<fastlane_core::config::Config>();
    let text = serde_json::to_string_pretty(&schema).expect("a schema serializes");
    println!("{text}");
}

/// An optional key is left out rather than written as null: drops the `null` alternative schemars
/// gives an `Option`, so that the schema (and the TypeScript types made from it) have one way to
/// say "none".
fn absent_means_none(schema: &mut Schema) {
    if let Some(serde_json::Value::Array(types)) = schema.get_mut("type") {
        types.retain(|t| t != "null");
        if let [only] = types.as_slice() {
            let only = only.clone();
            schema.insert("type".into(), only);
        }
    }
    let Some(serde_json::Value::Array(branches)) = schema.get_mut("anyOf") else {
        return;
    };
    branches.retain(|b| b.get("type").and_then(|t| t.as_str()) != Some("null"));
    if let [only] = branches.as_slice() {
        let only = only.clone();
        schema.remove("anyOf");
        if let serde_json::Value::Object(fields) = only {
            for (key, value) in fields {
                schema.insert(key, value);
            }
        }
    }
}

/// Doc comments wrap at 100 columns; a description is one paragraph, so the breaks become spaces.
fn one_line_descriptions(schema: &mut Schema) {
    if let Some(serde_json::Value::String(text)) = schema.get_mut("description") {
        *text = text.replace('\n', " ");
    }
}
