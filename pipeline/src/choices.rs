//! One definition of a choice's spelling: [`choices!`] gives a field-less enum `FromStr`,
//! `Display`, `name()` and `NAMES` from a single table, so command lines, config files and
//! reports read and write the same words (clap parses such a type through its `FromStr`).

/// "a, b or c".
pub fn one_of(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Implements `FromStr`, `Display`, `name()` and `NAMES` for a field-less enum:
/// `choices!(Residency { Auto => "auto", Mapped => "mapped" });`
#[macro_export]
macro_rules! choices {
    ($t:ident { $($v:ident => $s:literal),+ $(,)? }) => {
        impl $t {
            /// Every choice's name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($s),+];

            /// The name (what `FromStr` reads back).
            pub fn name(&self) -> &'static str {
                match self {
                    $($t::$v => $s,)+
                }
            }
        }

        impl ::std::str::FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> ::std::result::Result<Self, String> {
                match s {
                    $($s => Ok($t::$v),)+
                    _ => Err(format!("{s:?}: expected {}", $crate::choices::one_of(Self::NAMES))),
                }
            }
        }

        impl ::std::fmt::Display for $t {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

#[cfg(test)]
mod tests {
    #[derive(Debug, PartialEq, Clone, Copy)]
    enum Pick {
        A,
        LongName,
    }
    choices!(Pick { A => "a", LongName => "long-name" });

    #[test]
    fn names_round_trip_and_a_wrong_one_lists_the_choices() {
        for p in [Pick::A, Pick::LongName] {
            assert_eq!(p.to_string().parse::<Pick>(), Ok(p));
        }
        assert_eq!("b".parse::<Pick>(), Err("\"b\": expected a or long-name".to_string()));
        assert_eq!(super::one_of(&["x", "y", "z"]), "x, y or z");
    }
}
