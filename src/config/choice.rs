//! The configuration's enumerated values (modes, policies, formats): one table each names the
//! word a file uses for every variant, for reading it, rendering it and the error that lists
//! the choices.

use super::render::Render;
use super::value::FromValue;
use super::{Challenge, CreatePolicy, LogFormat, TlsMode, TurnMode};

macro_rules! choices {
    ($($t:ident { $($variant:ident => $word:literal),+ $(,)? })*) => {$(
        impl $t {
            /// The word a configuration file uses for this value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($t::$variant => $word),+
                }
            }
        }

        impl FromValue for $t {
            fn from_value(value: &toml::Value) -> Result<Self, String> {
                let words = [$($word),+];
                match value.as_str() {
                    $(Some($word) => Ok($t::$variant),)+
                    Some(other) => Err(format!("{other:?} is not one of {}", words.join(", "))),
                    None => Err(format!("expected one of {}", words.join(", "))),
                }
            }
        }

        impl Render for $t {
            fn render(&self) -> Option<String> {
                Some(toml::Value::String(self.as_str().to_owned()).to_string())
            }
        }
    )*};
}

choices! {
    TlsMode { Off => "off", Acme => "acme", SelfSigned => "self-signed", Files => "files" }
    Challenge { Http01 => "http-01", TlsAlpn01 => "tls-alpn-01" }
    TurnMode { Off => "off", External => "external", Embedded => "embedded" }
    CreatePolicy { Open => "open", Link => "link", Operator => "operator" }
    LogFormat { Text => "text", Json => "json" }
}
