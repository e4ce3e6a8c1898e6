//! The environment variables the settings are read from: the process's in
//! the binary, or a map a test (or a program embedding the service) passes.
//!
//! clap reads the declared settings' variables itself; this map is for the
//! rules clap cannot express: the Outpost variables outbound refuses
//! ([`super::outpost`]), and the few variables where "set to the empty
//! string" means something other than "unset".

use std::collections::BTreeMap;
use std::ffi::OsString;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    vars: BTreeMap<String, String>,
}

impl Environment {
    /// The process's environment. A variable whose name or value is not
    /// UTF-8 is read lossily: its name is what the checks look for, and no
    /// Outpost variable has a non-ASCII name.
    pub fn from_process() -> Environment {
        std::env::vars_os().collect()
    }

    /// The value of `name` as set, blank or not.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// The value of `name` unless it is unset or blank: a blank variable
    /// counts as unset, as for every declared setting.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.trim().is_empty())
    }

    /// Whether `name` is set to the empty (or blank) string.
    pub fn is_blank(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| v.trim().is_empty())
    }
}

impl<K: Into<OsString>, V: Into<OsString>> FromIterator<(K, V)> for Environment {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let vars = iter
            .into_iter()
            .map(|(k, v)| {
                let (k, v) = (k.into(), v.into());
                (
                    k.to_string_lossy().into_owned(),
                    v.to_string_lossy().into_owned(),
                )
            })
            .collect();
        Environment { vars }
    }
}
