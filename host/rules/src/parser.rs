//! Grammar shared by HTTP and TCP rules.
//!
//! ```text
//! rule    := or EOF
//! or      := and ( "||" and )*
//! and     := unary ( "&&" unary )*
//! unary   := "!" unary | primary
//! primary := "(" or ")" | NAME "(" [ STRING ( "," STRING )* [","] ] ")"
//! ```
//!
//! `STRING` is a Go string literal: backticks (raw) or double quotes (with
//! Go escapes). `&&` binds tighter than `||`.

use crate::error::{RuleError, column};
use crate::lexer::{Tok, Token, tokenize};

/// Deepest nesting of parentheses and `!` accepted.
const MAX_DEPTH: usize = 128;

/// A parsed rule, before matcher names are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// A matcher call such as ``Host(`example.com`)``.
    Call(Call),
    /// `!expr`.
    Not(Box<Expr>),
    /// `a && b && ...` (two or more operands, in source order).
    And(Vec<Expr>),
    /// `a || b || ...` (two or more operands, in source order).
    Or(Vec<Expr>),
}

/// One matcher call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// Matcher name exactly as written.
    pub name: String,
    /// Byte offset of the name in the rule string.
    pub offset: usize,
    /// Decoded string arguments.
    pub args: Vec<String>,
}

/// Parses `rule` into an expression tree, without checking matcher names.
///
/// Useful to inspect or validate the shape of a rule; [`crate::HttpRule::parse`]
/// calls it and then compiles the matchers.
pub fn parse_expr(rule: &str) -> Result<Expr, RuleError> {
    if rule.trim().is_empty() {
        return Err(RuleError::Empty);
    }
    let tokens = tokenize(rule);
    let mut p = Parser {
        src: rule,
        tokens,
        pos: 0,
        depth: 0,
    };
    let expr = p.or()?;
    match &p.peek().kind {
        Tok::Eof => Ok(expr),
        Tok::RParen => Err(p.unexpected("`&&`, `||` or end of rule (unbalanced `)`)")),
        _ => Err(p.unexpected("`&&`, `||` or end of rule")),
    }
}

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token<'a>>,
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &Token<'a> {
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn bump(&mut self) -> Token<'a> {
        let t = self.peek().clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn unexpected(&self, expected: &'static str) -> RuleError {
        let t = self.peek();
        if let Tok::Bad(e) = &t.kind {
            return (**e).clone();
        }
        RuleError::Unexpected {
            column: column(self.src, t.offset),
            expected,
            found: t.kind.describe(),
        }
    }

    fn enter(&mut self) -> Result<(), RuleError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(RuleError::TooDeep {
                column: column(self.src, self.peek().offset),
                limit: MAX_DEPTH,
            });
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, RuleError> {
        let first = self.and()?;
        if self.peek().kind != Tok::Or {
            return Ok(first);
        }
        let mut operands = vec![first];
        while self.peek().kind == Tok::Or {
            self.bump();
            operands.push(self.and()?);
        }
        Ok(Expr::Or(operands))
    }

    fn and(&mut self) -> Result<Expr, RuleError> {
        let first = self.unary()?;
        if self.peek().kind != Tok::And {
            return Ok(first);
        }
        let mut operands = vec![first];
        while self.peek().kind == Tok::And {
            self.bump();
            operands.push(self.unary()?);
        }
        Ok(Expr::And(operands))
    }

    fn unary(&mut self) -> Result<Expr, RuleError> {
        if self.peek().kind == Tok::Not {
            self.bump();
            self.enter()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, RuleError> {
        match self.peek().kind.clone() {
            Tok::LParen => {
                self.bump();
                self.enter()?;
                let inner = self.or()?;
                self.depth -= 1;
                if self.peek().kind != Tok::RParen {
                    return Err(self.unexpected("`)` to close the group, `&&` or `||`"));
                }
                self.bump();
                Ok(inner)
            }
            Tok::Ident(name) => {
                let offset = self.bump().offset;
                if self.peek().kind != Tok::LParen {
                    return Err(self.unexpected("`(` after the matcher name"));
                }
                self.bump();
                let args = self.args()?;
                Ok(Expr::Call(Call {
                    name: name.to_string(),
                    offset,
                    args,
                }))
            }
            _ => Err(self.unexpected("a matcher such as Host(`example.com`), `!` or `(`")),
        }
    }

    fn args(&mut self) -> Result<Vec<String>, RuleError> {
        let mut args = Vec::new();
        loop {
            match self.peek().kind.clone() {
                Tok::RParen => {
                    self.bump();
                    return Ok(args);
                }
                Tok::Str(s) => {
                    self.bump();
                    args.push(s);
                    match self.peek().kind {
                        Tok::Comma => {
                            self.bump();
                        }
                        Tok::RParen => {}
                        _ => return Err(self.unexpected("`,` or `)` after an argument")),
                    }
                }
                Tok::Ident(_) => {
                    return Err(self.unexpected(
                        "a string in backticks or double quotes (arguments must be quoted)",
                    ));
                }
                _ => return Err(self.unexpected("a string argument or `)`")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, args: &[&str]) -> Expr {
        Expr::Call(Call {
            name: name.into(),
            offset: 0,
            args: args.iter().map(|s| s.to_string()).collect(),
        })
    }

    /// Drops offsets so trees compare structurally.
    fn strip(e: Expr) -> Expr {
        match e {
            Expr::Call(c) => Expr::Call(Call { offset: 0, ..c }),
            Expr::Not(x) => Expr::Not(Box::new(strip(*x))),
            Expr::And(v) => Expr::And(v.into_iter().map(strip).collect()),
            Expr::Or(v) => Expr::Or(v.into_iter().map(strip).collect()),
        }
    }

    #[test]
    fn precedence() {
        let e = strip(parse_expr("a(`1`) || b(`2`) && !c(\"3\")").unwrap());
        assert_eq!(
            e,
            Expr::Or(vec![
                call("a", &["1"]),
                Expr::And(vec![
                    call("b", &["2"]),
                    Expr::Not(Box::new(call("c", &["3"])))
                ])
            ])
        );
    }

    #[test]
    fn whitespace_and_trailing_comma() {
        let e = strip(parse_expr("   HostSNI ( `*` , )  ").unwrap());
        assert_eq!(e, call("HostSNI", &["*"]));
        assert_eq!(strip(parse_expr("m()").unwrap()), call("m", &[]));
    }

    #[test]
    fn errors_point_at_the_problem() {
        let err = |r: &str| parse_expr(r).unwrap_err();
        assert_eq!(err(""), RuleError::Empty);
        assert!(matches!(err("m"), RuleError::Unexpected { column: 2, .. }));
        assert!(matches!(
            err("m(`1`) &&"),
            RuleError::Unexpected { column: 10, .. }
        ));
        assert!(matches!(
            err("m(`1`))"),
            RuleError::Unexpected { column: 7, .. }
        ));
        assert!(matches!(
            err("(m(`1`)"),
            RuleError::Unexpected { column: 8, .. }
        ));
        assert!(matches!(
            err("Host(example.com)"),
            RuleError::Unexpected { column: 6, .. }
        ));
        assert!(matches!(err("m(,)"), RuleError::Unexpected { .. }));
        assert!(matches!(err("m(`a` `b`)"), RuleError::Unexpected { .. }));
        let deep = format!("{}m(`1`){}", "(".repeat(500), ")".repeat(500));
        assert!(matches!(err(&deep), RuleError::TooDeep { .. }));
    }
}
