//! Compiled boolean trees of matchers, shared by HTTP and TCP rules.

use crate::error::RuleError;
use crate::parser::{Call, Expr};

/// A leaf matcher evaluated against a request of type `R`.
pub(crate) trait Leaf<R: ?Sized> {
    /// Whether the request satisfies this matcher.
    fn eval(&self, req: &R) -> bool;
    /// Relative evaluation cost; cheaper leaves run first.
    fn cost(&self) -> u32;
}

/// A compiled rule: `!` is pushed down to the leaves (De Morgan), and
/// nested `&&` / `||` are flattened.
#[derive(Debug)]
pub(crate) enum Node<M> {
    /// A matcher; `true` in the second field negates it.
    Leaf(M, bool),
    /// All children must match.
    All(Box<[Node<M>]>),
    /// At least one child must match.
    Any(Box<[Node<M>]>),
}

impl<M> Node<M> {
    /// Evaluates the tree, short-circuiting.
    #[inline]
    pub fn eval<R: ?Sized>(&self, req: &R) -> bool
    where
        M: Leaf<R>,
    {
        match self {
            Node::Leaf(m, negated) => m.eval(req) != *negated,
            Node::All(children) => children.iter().all(|c| c.eval(req)),
            Node::Any(children) => children.iter().any(|c| c.eval(req)),
        }
    }

    fn cost<R: ?Sized>(&self) -> u32
    where
        M: Leaf<R>,
    {
        match self {
            Node::Leaf(m, _) => m.cost(),
            Node::All(c) | Node::Any(c) => c.iter().map(|n| n.cost::<R>()).sum(),
        }
    }

    /// Builds a tree from a parsed expression, building each leaf with `leaf`.
    pub fn compile<R: ?Sized>(
        expr: &Expr,
        leaf: &mut dyn FnMut(&Call) -> Result<M, RuleError>,
    ) -> Result<Node<M>, RuleError>
    where
        M: Leaf<R>,
    {
        Self::build(expr, false, leaf)
    }

    fn build<R: ?Sized>(
        expr: &Expr,
        negated: bool,
        leaf: &mut dyn FnMut(&Call) -> Result<M, RuleError>,
    ) -> Result<Node<M>, RuleError>
    where
        M: Leaf<R>,
    {
        match expr {
            Expr::Call(call) => Ok(Node::Leaf(leaf(call)?, negated)),
            Expr::Not(inner) => Self::build(inner, !negated, leaf),
            Expr::And(operands) | Expr::Or(operands) => {
                // `!(a && b)` is `!a || !b`, and `!(a || b)` is `!a && !b`.
                let all = matches!(expr, Expr::And(_)) != negated;
                let mut children = Vec::with_capacity(operands.len());
                for op in operands {
                    match Self::build(op, negated, leaf)? {
                        Node::All(inner) if all => children.extend(inner.into_vec()),
                        Node::Any(inner) if !all => children.extend(inner.into_vec()),
                        node => children.push(node),
                    }
                }
                // Both operators short-circuit: evaluate cheap children first.
                children.sort_by_key(|n| n.cost::<R>());
                Ok(if all {
                    Node::All(children.into())
                } else {
                    Node::Any(children.into())
                })
            }
        }
    }
}
