// `fastlane new-plugin <name> [--dir DIR]`: scaffolds a Rust plugin crate (a cdylib exporting a
// fastlane_plugin::Plugin) that builds on its own and that a config loads by path.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Argv, CommandModule } from 'yargs';

interface NewPluginArgs {
  name: string;
  dir: string | undefined;
}

/** The fastlane-plugin crate of this checkout, when the CLI runs from the repository. */
const REPO_PLUGIN_CRATE = path.join(__dirname, '..', '..', 'crates', 'fastlane-plugin');
/** The crates.io requirement used outside the repository. */
const PLUGIN_CRATE_VERSION = '0.1';
/** What the scaffold reads its JSON config with: the plugin ABI itself brings no JSON library. */
const MINISERDE_VERSION = '0.1';

// Rust keywords (2021 and 2024 editions) and the crates every build already has: cargo refuses
// them as library names, or they would shadow what the plugin imports.
const RESERVED = new Set([
  'as', 'async', 'await', 'break', 'const', 'continue', 'crate', 'dyn', 'else', 'enum', 'extern',
  'false', 'fn', 'for', 'gen', 'if', 'impl', 'in', 'let', 'loop', 'match', 'mod', 'move', 'mut',
  'pub', 'ref', 'return', 'self', 'static', 'struct', 'super', 'trait', 'true', 'type', 'unsafe',
  'use', 'where', 'while', 'abstract', 'become', 'box', 'do', 'final', 'macro', 'override', 'priv',
  'typeof', 'unsized', 'virtual', 'yield', 'try', 'std', 'core', 'alloc', 'proc_macro', 'test',
  'fastlane_plugin', 'fastlane_abi', 'miniserde',
]);

/** Why `name` cannot be a Rust crate name, or undefined when it can. */
export function crateNameProblem(name: string): string | undefined {
  if (name.length === 0 || name.length > 64) {
    return 'a crate name has 1 to 64 characters';
  }
  if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(name)) {
    return 'a crate name starts with a letter and has only ASCII letters, digits, "-" and "_"';
  }
  if (RESERVED.has(name.replace(/-/g, '_').toLowerCase())) {
    return `"${name}" is a Rust keyword or a name the plugin's build already uses`;
  }
  return undefined;
}

export interface ScaffoldOptions {
  name: string;
  /** The crate's directory; must not exist or be empty. */
  dir: string;
  /** The fastlane-plugin crate to depend on by path; by version when undefined. */
  pluginCrate: string | undefined;
}

/** Writes the crate and returns the paths it wrote. */
export function scaffoldPlugin(options: ScaffoldOptions): string[] {
  const problem = crateNameProblem(options.name);
  if (problem !== undefined) {
    throw new Error(`invalid plugin name "${options.name}": ${problem}`);
  }
  const dir = path.resolve(options.dir);
  if (fs.existsSync(dir) && fs.readdirSync(dir).length > 0) {
    throw new Error(`${dir} already exists and is not empty`);
  }
  const files: [string, string][] = [
    ['Cargo.toml', cargoToml(options.name, dir, options.pluginCrate)],
    ['src/lib.rs', libRs(options.name)],
    ['README.md', readme(options.name)],
    ['.gitignore', '/target\n'],
  ];
  const written = [];
  for (const [file, text] of files) {
    const target = path.join(dir, file);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, text);
    written.push(target);
  }
  return written;
}

function cargoToml(name: string, dir: string, pluginCrate: string | undefined): string {
  const dependency =
    pluginCrate === undefined ? `"${PLUGIN_CRATE_VERSION}"` : `{ path = "${dependencyPath(dir, pluginCrate)}" }`;
  return `[package]
name = "${name}"
version = "0.1.0"
edition = "2021"
publish = false

# A plugin builds on its own, even inside another workspace's directory.
[workspace]

[lib]
# A C-compatible shared library the Fastlane host loads by path.
crate-type = ["cdylib"]

[dependencies]
# The plugin ABI (it links nothing of the data plane's).
fastlane-plugin = ${dependency}
# Reads the stage's config, which the plugin receives as JSON text.
miniserde = "${MINISERDE_VERSION}"

# Keep panics unwinding: the plugin catches them and reports them to the host. With
# panic = "abort" a panic in the plugin would end the whole data plane.
[profile.release]
panic = "unwind"
`;
}

/** Relative inside the repository (which moves as a whole), absolute from elsewhere. */
function dependencyPath(dir: string, pluginCrate: string): string {
  const repo = path.resolve(pluginCrate, '..', '..');
  const inside = !path.relative(repo, dir).startsWith('..');
  const target = inside ? path.relative(dir, pluginCrate) : path.resolve(pluginCrate);
  return target.split(path.sep).join('/');
}

/** `my-acl` -> `MyAcl`. */
function typeName(name: string): string {
  return name
    .split(/[-_]/)
    .filter((part) => part.length > 0)
    .map((part) => (part[0] ?? '').toUpperCase() + part.slice(1))
    .join('');
}

function libRs(name: string): string {
  const type = typeName(name);
  return `//! ${name}: a Fastlane packet processor, built as a plugin.
//!
//! The host creates one instance per data-plane thread from the stage's \`config\` and calls
//! \`process\` with each batch of packets received on that thread. Nothing here needs locks.

use fastlane_plugin::{Batch, Plugin, PluginReason};
use miniserde::json::{self, Number, Value};

/// Counter indices, in the order of \`${type}::COUNTERS\`.
const SEEN: usize = 0;

/// Drop reasons, in the order of \`${type}::DROP_REASONS\`.
const TOO_SHORT: PluginReason = PluginReason(0);

/// Drops frames shorter than \`min_len\` bytes and leaves the others' verdicts to later stages.
pub struct ${type} {
    min_len: usize,
}

impl Plugin for ${type} {
    /// Per-thread counters, by name; the host reads them without calling into the plugin.
    const COUNTERS: &'static [&'static str] = &["seen"];
    /// This plugin's own drop reasons, by name: the host counts the packets dropped for each
    /// (\`fastlane_plugin_drops_total{reason="too_short"}\`).
    const DROP_REASONS: &'static [&'static str] = &["too_short"];

    /// Reads the stage's \`config\` (JSON text): \`{ "min_len": 60 }\`. An \`Err\` stops the
    /// data plane from starting, with this message.
    fn new(config: &str) -> Result<Self, String> {
        let min_len = match json::from_str(config) {
            Ok(Value::Null) => 60,
            Ok(Value::Object(config)) => match config.get("min_len") {
                None => 60,
                Some(Value::Number(Number::U64(n))) => *n as usize,
                Some(other) => {
                    return Err(format!("min_len must be a number of bytes, not {}", json::to_string(other)))
                }
            },
            _ => return Err(format!("the config must be an object, not {config}")),
        };
        Ok(${type} { min_len })
    }

    /// Sees the packets no earlier stage dropped or gave to the kernel. A packet may be read and
    /// edited in place (\`data_mut\`, \`prepend\`, \`append\`, \`pull\`, \`trim\`); its verdict
    /// is \`Pending\` unless an earlier stage set one. Never panic on what arrives from the wire: a
    /// panic stops this data-plane thread.
    fn process(&mut self, batch: &mut Batch<'_>) {
        let mut seen = 0;
        for mut packet in batch.iter_mut() {
            seen += 1;
            if packet.len() < self.min_len {
                packet.drop_for(TOO_SHORT);
            }
        }
        batch.counters().add(SEEN, seen);
    }
}

fastlane_plugin::export!(${type});
`;
}

function readme(name: string): string {
  const lib = `lib${name.replace(/-/g, '_')}.so`;
  return `# ${name}

A Fastlane packet processor, built as a plugin: a \`cdylib\` exporting a
\`fastlane_plugin::Plugin\` with \`fastlane_plugin::export!\`.

## Build

\`\`\`sh
cargo build --release
\`\`\`

The plugin is \`target/release/${lib}\`. Build it against the same \`fastlane-plugin\` ABI
version as the data plane that loads it: the data plane refuses a mismatch and names both
versions.

## Use it from a config

A pipeline stage of type \`plugin\` loads it by path (relative to the config file's directory)
and hands \`config\` to \`${typeName(name)}::new\` on every data-plane thread:

\`\`\`json
"pipeline": [
  { "type": "plugin", "path": "./target/release/${lib}", "config": { "min_len": 60 } },
  "macswap"
]
\`\`\`

Packets the plugin leaves \`Pending\` go on to the next stage. Its counter \`seen\` and the
packets it dropped for its own reason \`too_short\` are kept per thread and read by the data
plane (\`stats().plugins\`, \`fastlane_plugin_events_total\`, \`fastlane_plugin_drops_total\`).

The crate depends on \`fastlane-plugin\` alone for the ABI (its \`repr(C)\` types live in
\`fastlane-abi\`), not on the data plane; the config arrives as JSON text, read here with
\`miniserde\`.
`;
}

export const newPluginCommand: CommandModule<object, NewPluginArgs> = {
  command: 'new-plugin <name>',
  describe: 'Create a Rust plugin crate (a packet processor loaded by path from a config)',
  builder: (yargs: Argv) =>
    yargs
      .positional('name', { describe: 'the crate name', type: 'string', demandOption: true })
      .option('dir', { describe: 'where to create the crate (default: ./<name>)', type: 'string' }) as Argv<NewPluginArgs>,
  handler: (args) => {
    const dir = args.dir ?? args.name;
    const inRepo = fs.existsSync(path.join(REPO_PLUGIN_CRATE, 'Cargo.toml'));
    scaffoldPlugin({ name: args.name, dir, pluginCrate: inRepo ? REPO_PLUGIN_CRATE : undefined });
    console.log(`created ${args.name} in ${path.resolve(dir)}: build it with \`cargo build --release\``);
  },
};
