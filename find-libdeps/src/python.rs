//! The libraries Python code loads at run time, read from its source
//! without running it: ctypes (`ctypes.CDLL`, `cdll.LoadLibrary`,
//! `ctypes.util.find_library`) and cffi's ABI mode (`ffi.dlopen`).
//!
//! The source is parsed with ruff's parser, so names in comments and
//! docstrings do not count. A small flow-insensitive evaluator then
//! follows what reaches those calls: string literals, tuples and lists of
//! alternatives, module and function variables (every value ever assigned
//! to a name counts), `for` loops, `or`, `if`-`else`, `+`, `%`, f-strings,
//! `str.split`, generators, and the module's own functions with their
//! parameters bound at each call, as in python-magic's
//! `for lib in _lib_candidates(): CDLL(lib)`. What is computed at run time
//! (an environment variable, a path joined to `__file__`) is not followed:
//! recorded loads cover it.
//!
//! Each call site is one [`Load`]: its candidates are alternatives, tried
//! in order. A `find_library` whose result reaches a load call belongs to
//! that call's group rather than being a group of its own. Candidates
//! named for Windows or macOS (`.dll`, `.dylib`) are dropped.

use std::collections::{BTreeMap, HashMap, HashSet};

use ruff_python_ast::{
    BoolOp, Expr, ExprCall, FStringPart, InterpolatedStringElement, Number, Operator, PySourceType, Stmt,
    StmtFunctionDef,
};
use ruff_python_parser::parse_unchecked_source;
use ruff_text_size::Ranged;

/// The call that loads a library.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Api {
    /// `ctypes.util.find_library(name)`, when nothing loads its result.
    FindLibrary,
    /// `ctypes.CDLL(name)`, `PyDLL`, `cdll.LoadLibrary`: dlopen(3).
    Ctypes,
    /// cffi's `ffi.dlopen(name)`: dlopen(3) for a name with `.` or `/`,
    /// else `find_library(name)` first (cffi's `_load_backend_lib`).
    Cffi,
}

impl Api {
    pub fn describe(self) -> &'static str {
        match self {
            Api::FindLibrary => "ctypes find_library",
            Api::Ctypes => "ctypes CDLL",
            Api::Cffi => "cffi dlopen",
        }
    }
}

/// One way a call may name its library.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Candidate {
    /// `find_library(name)`: the loader cache's `lib<name>.*` entry.
    FindLibrary(String),
    /// A file name (searched as dlopen(3) searches) or a path.
    Dlopen(String),
}

impl std::fmt::Display for Candidate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Candidate::FindLibrary(name) => write!(f, "find_library('{name}')"),
            Candidate::Dlopen(name) => write!(f, "'{name}'"),
        }
    }
}

/// One call site that loads a library: any one of its candidates, tried in
/// order, satisfies it. No candidates: the name is computed at run time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Load {
    /// 1-based line of the call.
    pub line: u32,
    pub api: Api,
    pub candidates: Vec<Candidate>,
    /// It also named a Windows or macOS file (dropped from `candidates`)
    /// and no Linux file (`*.so*`): code that may not be meant for Linux at
    /// all (`_load_cdll("Security", "/System/Library/Frameworks/...")`).
    pub other_platforms: bool,
}

/// Sources larger than this are not read: no library loader is that big,
/// and the parser's time grows with the file.
pub const MAX_SOURCE: u64 = 16 << 20;

/// Words without which a source cannot load a library (the names of the
/// calls and of ctypes' loaders); files without any are not parsed.
pub const NEEDLES: &[&str] = &["find_library", "CDLL", "PyDLL", "LoadLibrary", "dlopen", "cdll"];

/// Whether `source` may load a library: holds one of [`NEEDLES`] not
/// followed by a character of a name, so as a whole name or the end of one
/// (`_load_cdll`), not as the start of a longer one (distutils'
/// `find_library_file`: a third of the files that held a needle at all,
/// each then parsed for nothing).
pub fn may_load(source: &[u8], needles: &aho_corasick::AhoCorasick) -> bool {
    let continues_name = |byte: &u8| byte.is_ascii_alphanumeric() || *byte == b'_';
    needles.find_iter(source).any(|found| !source.get(found.end()).is_some_and(continues_name))
}

/// The searcher for [`NEEDLES`], built once per run. Leftmost-first, as
/// only that match kind uses the SIMD searcher (Teddy): 8x faster than the
/// standard one over a venv's 66 MB of Python.
pub fn needle_searcher() -> aho_corasick::AhoCorasick {
    let builder =
        aho_corasick::AhoCorasick::builder().match_kind(aho_corasick::MatchKind::LeftmostFirst).build(NEEDLES);
    builder.expect("fixed needles build a searcher")
}

/// The loads of one Python source, in the order of their call sites.
/// Never fails: a file with syntax errors gives what its valid parts hold.
pub fn loads(source: &str) -> Vec<Load> {
    let parsed = parse_unchecked_source(source, PySourceType::Python);
    let body = &parsed.syntax().body;
    let mut evaluator = Evaluator::new(source, body);
    let mut module = Scope::default();
    // The module's bindings, until every name holds all it will (a use may
    // come before the assignment it reads, in a function called later).
    let mut raises = false;
    for _ in 0..PASSES {
        module.changed = false;
        evaluator.memo.clear();
        raises = evaluator.run(body, &mut module);
        if !module.changed {
            break;
        }
    }
    // Functions nobody in this module calls (psycopg's find_libpq_full_path
    // is called from another module): read once with unknown arguments,
    // unless the module cannot be imported on Linux at all.
    let functions: Vec<u32> = if raises { Vec::new() } else { evaluator.functions.keys().copied().collect() };
    for id in functions {
        evaluator.call_function(id, &[], &[], &module);
    }
    evaluator.finish()
}

/// Passes over a scope before its bindings are taken as complete.
const PASSES: usize = 4;
/// Values one expression may hold; beyond, the rest are dropped.
const MAX_ATOMS: usize = 64;
/// Longest string followed: names of libraries are short.
const MAX_STRING: usize = 4096;
/// Evaluation steps for one file, so that no source takes long.
const MAX_STEPS: usize = 400_000;
/// How deep expressions, statements and calls are followed.
const MAX_DEPTH: usize = 120;

/// One value an expression may have.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Atom {
    Str(String),
    /// What `find_library(name)` returned at the call starting at `site`.
    Found {
        name: String,
        site: u32,
    },
    Api(Api),
    /// The `ctypes` module, `ctypes.util`, and ctypes' `cdll`/`pydll`.
    Ctypes,
    CtypesUtil,
    Loader,
    /// A function of this module, by where its definition starts.
    Function(u32),
    /// A bound method of a string (`"a b".split`).
    StrMethod(String, &'static str),
    /// A tuple, list, set, dict's values or generator: its possible items.
    Seq(Vec<Atom>),
    None,
}

/// Every value an expression may have; empty when unknown.
type Value = Vec<Atom>;

fn union(into: &mut Value, from: impl IntoIterator<Item = Atom>) -> bool {
    let mut changed = false;
    for atom in from {
        if into.len() >= MAX_ATOMS {
            break;
        }
        if !into.contains(&atom) {
            into.push(atom);
            changed = true;
        }
    }
    changed
}

/// The items iterating over a value gives.
fn items(value: &Value) -> Value {
    let mut items = Value::new();
    for atom in value {
        if let Atom::Seq(inner) = atom {
            union(&mut items, inner.iter().cloned());
        }
    }
    items
}

#[derive(Default)]
struct Scope<'p> {
    vars: HashMap<String, Value>,
    parent: Option<&'p Scope<'p>>,
    returned: Value,
    yielded: Value,
    changed: bool,
}

impl Scope<'_> {
    fn lookup(&self, name: &str) -> Option<&Value> {
        self.vars.get(name).or_else(|| self.parent.and_then(|parent| parent.lookup(name)))
    }

    fn bind(&mut self, name: &str, value: Value) {
        let slot = self.vars.entry(name.to_string()).or_default();
        if union(slot, value) {
            self.changed = true;
        }
    }

    /// The module's scope, where a function's free names are looked up.
    fn module(&self) -> &Scope<'_> {
        match self.parent {
            Some(parent) => parent.module(),
            None => self,
        }
    }
}

/// A call of one of the module's functions: where it is defined, and the
/// positional and keyword arguments' values.
type CallKey = (u32, Vec<Value>, Vec<(String, Value)>);

struct Evaluator<'a> {
    source: &'a str,
    functions: BTreeMap<u32, &'a StmtFunctionDef>,
    loads: BTreeMap<u32, (Api, Vec<Candidate>)>,
    /// `find_library` calls whose result reaches a load call.
    absorbed: HashSet<u32>,
    memo: HashMap<CallKey, Value>,
    calling: HashSet<u32>,
    depth: usize,
    steps: usize,
}

impl<'a> Evaluator<'a> {
    fn new(source: &'a str, body: &'a [Stmt]) -> Evaluator<'a> {
        let mut functions = BTreeMap::new();
        collect_functions(body, &mut functions, 0);
        Evaluator {
            source,
            functions,
            loads: BTreeMap::new(),
            absorbed: HashSet::new(),
            memo: HashMap::new(),
            calling: HashSet::new(),
            depth: 0,
            steps: 0,
        }
    }

    fn finish(self) -> Vec<Load> {
        let mut loads = Vec::new();
        for (site, (api, candidates)) in self.loads {
            if api == Api::FindLibrary && self.absorbed.contains(&site) {
                continue;
            }
            let had_names = candidates.len();
            let candidates: Vec<Candidate> = candidates.into_iter().filter(|c| !foreign(c)).collect();
            if had_names > 0 && candidates.is_empty() {
                continue;
            }
            let line = self.source.as_bytes()[..site as usize].iter().filter(|&&b| b == b'\n').count() + 1;
            // A name with ".so" is for Linux: the group is meant to work here.
            let names_linux_file =
                candidates.iter().any(|c| matches!(c, Candidate::Dlopen(name) if name.contains(".so")));
            let other_platforms = candidates.len() < had_names && !names_linux_file;
            loads.push(Load { line: line as u32, api, candidates, other_platforms });
        }
        loads
    }

    fn exhausted(&mut self) -> bool {
        self.steps += 1;
        self.steps > MAX_STEPS || self.depth > MAX_DEPTH
    }

    /// Reads a block; true if it certainly raises on Linux, which ends the
    /// block it is in (`if platform.system() != "Darwin": raise ImportError`
    /// makes the rest of a module another platform's).
    fn run(&mut self, body: &'a [Stmt], scope: &mut Scope) -> bool {
        if self.exhausted() {
            return false;
        }
        self.depth += 1;
        let mut raises = false;
        for stmt in body {
            if self.statement(stmt, scope) {
                raises = true;
                break;
            }
        }
        self.depth -= 1;
        raises
    }

    /// Reads a statement; true if it certainly raises on Linux.
    fn statement(&mut self, stmt: &'a Stmt, scope: &mut Scope) -> bool {
        match stmt {
            Stmt::FunctionDef(def) => scope.bind(def.name.as_str(), vec![Atom::Function(def.range.start().into())]),
            // A class body's names are read as the enclosing scope's: good
            // enough for the constants loaders keep there.
            Stmt::ClassDef(class) => return self.run(&class.body, scope),
            Stmt::Return(ret) => {
                if let Some(value) = &ret.value {
                    let value = self.eval(value, scope);
                    union(&mut scope.returned, value);
                }
            }
            Stmt::Assign(assign) => {
                let value = self.eval(&assign.value, scope);
                for target in &assign.targets {
                    bind(target, value.clone(), scope);
                }
            }
            Stmt::AnnAssign(assign) => {
                if let Some(value) = &assign.value {
                    let value = self.eval(value, scope);
                    bind(&assign.target, value, scope);
                }
            }
            Stmt::AugAssign(assign) => {
                let right = self.eval(&assign.value, scope);
                if let (Expr::Name(name), Operator::Add) = (assign.target.as_ref(), assign.op) {
                    let left = scope.lookup(name.id.as_str()).cloned().unwrap_or_default();
                    scope.bind(name.id.as_str(), add(&left, &right));
                }
            }
            Stmt::For(for_) => {
                let iterated = self.eval(&for_.iter, scope);
                bind(&for_.target, items(&iterated), scope);
                self.run(&for_.body, scope);
                self.run(&for_.orelse, scope);
            }
            Stmt::While(while_) => {
                self.eval(&while_.test, scope);
                self.run(&while_.body, scope);
                self.run(&while_.orelse, scope);
            }
            Stmt::If(if_) => {
                // Branches for another platform are not read; the one Linux
                // certainly takes is the only one read.
                let clauses = std::iter::once((Some(&*if_.test), &if_.body))
                    .chain(if_.elif_else_clauses.iter().map(|c| (c.test.as_ref(), &c.body)));
                for (test, body) in clauses {
                    let taken = match test {
                        Some(test) => {
                            self.eval(test, scope);
                            on_linux(test)
                        }
                        None => Some(true),
                    };
                    match taken {
                        Some(false) => continue,
                        Some(true) => return self.run(body, scope),
                        None => {
                            self.run(body, scope);
                        }
                    }
                }
            }
            Stmt::Raise(raise) => {
                if let Some(exc) = &raise.exc {
                    self.eval(exc, scope);
                }
                return true;
            }
            Stmt::With(with) => {
                for item in &with.items {
                    self.eval(&item.context_expr, scope);
                }
                self.run(&with.body, scope);
            }
            Stmt::Match(match_) => {
                self.eval(&match_.subject, scope);
                for case in &match_.cases {
                    self.run(&case.body, scope);
                }
            }
            Stmt::Try(try_) => {
                self.run(&try_.body, scope);
                for handler in &try_.handlers {
                    let ruff_python_ast::ExceptHandler::ExceptHandler(handler) = handler;
                    self.run(&handler.body, scope);
                }
                self.run(&try_.orelse, scope);
                self.run(&try_.finalbody, scope);
            }
            Stmt::Import(import) => {
                for alias in &import.names {
                    let full = alias.name.as_str();
                    match &alias.asname {
                        Some(asname) => scope.bind(asname.as_str(), module_atom(full).into_iter().collect()),
                        None => {
                            let first = full.split('.').next().unwrap_or(full);
                            scope.bind(first, module_atom(first).into_iter().collect());
                        }
                    }
                }
            }
            Stmt::ImportFrom(import) => {
                let module = import.module.as_ref().map(|m| m.as_str()).unwrap_or_default();
                for alias in &import.names {
                    let name = alias.name.as_str();
                    let bound = alias.asname.as_ref().map_or(name, |asname| asname.as_str());
                    if let Some(atom) = member_atom(module, name) {
                        scope.bind(bound, vec![atom]);
                    }
                }
            }
            Stmt::Expr(expr) => {
                self.eval(&expr.value, scope);
            }
            _ => {}
        }
        false
    }

    fn eval(&mut self, expr: &'a Expr, scope: &mut Scope) -> Value {
        if self.exhausted() {
            return Value::new();
        }
        self.depth += 1;
        let value = self.eval_inner(expr, scope);
        self.depth -= 1;
        value
    }

    fn eval_inner(&mut self, expr: &'a Expr, scope: &mut Scope) -> Value {
        match expr {
            Expr::StringLiteral(literal) => string(literal.value.to_str()),
            Expr::BytesLiteral(literal) => {
                let bytes: Vec<u8> = literal.value.bytes().collect();
                string(&String::from_utf8_lossy(&bytes))
            }
            Expr::NumberLiteral(number) => match &number.value {
                Number::Int(int) => vec![Atom::Str(int.to_string())],
                _ => Value::new(),
            },
            Expr::NoneLiteral(_) => vec![Atom::None],
            Expr::FString(fstring) => self.fstring(fstring, scope),
            Expr::Name(name) => {
                let name = name.id.as_str();
                scope.lookup(name).cloned().unwrap_or_else(|| builtin(name).into_iter().collect())
            }
            Expr::Attribute(attribute) => {
                let receiver = self.eval(&attribute.value, scope);
                let loader_name = matches!(dotted_last(&attribute.value), Some("cdll" | "pydll"));
                member(&receiver, attribute.attr.as_str(), loader_name)
            }
            Expr::Call(call) => self.call(call, scope),
            Expr::Tuple(tuple) => self.sequence(&tuple.elts, scope),
            Expr::List(list) => self.sequence(&list.elts, scope),
            Expr::Set(set) => self.sequence(&set.elts, scope),
            Expr::Dict(dict) => {
                let mut values = Value::new();
                for item in &dict.items {
                    if let Some(key) = &item.key {
                        self.eval(key, scope);
                    }
                    let value = self.eval(&item.value, scope);
                    union(&mut values, value);
                }
                vec![Atom::Seq(values)]
            }
            Expr::BoolOp(bool_op) => {
                let mut value = Value::new();
                for (index, operand) in bool_op.values.iter().enumerate() {
                    let operand = self.eval(operand, scope);
                    // `a and b` is b when a holds; `a or b` either.
                    if bool_op.op == BoolOp::Or || index + 1 == bool_op.values.len() {
                        union(&mut value, operand);
                    }
                }
                value
            }
            Expr::If(if_) => {
                self.eval(&if_.test, scope);
                let mut value = self.eval(&if_.body, scope);
                let orelse = self.eval(&if_.orelse, scope);
                union(&mut value, orelse);
                value
            }
            Expr::Named(named) => {
                let value = self.eval(&named.value, scope);
                bind(&named.target, value.clone(), scope);
                value
            }
            Expr::BinOp(bin_op) => {
                let left = self.eval(&bin_op.left, scope);
                let right = self.eval(&bin_op.right, scope);
                match bin_op.op {
                    Operator::Add => add(&left, &right),
                    Operator::Mod => percent(&left, &right),
                    _ => Value::new(),
                }
            }
            Expr::Subscript(subscript) => {
                self.eval(&subscript.slice, scope);
                let value = self.eval(&subscript.value, scope);
                items(&value)
            }
            Expr::Starred(starred) => self.eval(&starred.value, scope),
            Expr::ListComp(comp) => self.comprehension(&comp.generators, &comp.elt, scope),
            Expr::SetComp(comp) => self.comprehension(&comp.generators, &comp.elt, scope),
            Expr::Generator(comp) => self.comprehension(&comp.generators, &comp.elt, scope),
            Expr::DictComp(comp) => self.comprehension(&comp.generators, &comp.value, scope),
            Expr::Yield(yield_) => {
                if let Some(value) = &yield_.value {
                    let value = self.eval(value, scope);
                    union(&mut scope.yielded, value);
                }
                Value::new()
            }
            Expr::YieldFrom(yield_from) => {
                let value = self.eval(&yield_from.value, scope);
                union(&mut scope.yielded, items(&value));
                Value::new()
            }
            Expr::Await(await_) => self.eval(&await_.value, scope),
            Expr::Compare(compare) => {
                self.eval(&compare.left, scope);
                for comparator in &compare.comparators {
                    self.eval(comparator, scope);
                }
                Value::new()
            }
            Expr::UnaryOp(unary) => {
                self.eval(&unary.operand, scope);
                Value::new()
            }
            _ => Value::new(),
        }
    }

    fn sequence(&mut self, elements: &'a [Expr], scope: &mut Scope) -> Value {
        let mut possible = Value::new();
        for element in elements {
            let value = self.eval(element, scope);
            match element {
                Expr::Starred(_) => union(&mut possible, items(&value)),
                _ => union(&mut possible, value),
            };
        }
        vec![Atom::Seq(possible)]
    }

    fn comprehension(
        &mut self,
        generators: &'a [ruff_python_ast::Comprehension],
        element: &'a Expr,
        scope: &mut Scope,
    ) -> Value {
        let mut inner = Scope { parent: Some(scope), ..Scope::default() };
        for generator in generators {
            let iterated = self.eval(&generator.iter, &mut inner);
            bind(&generator.target, items(&iterated), &mut inner);
            for condition in &generator.ifs {
                self.eval(condition, &mut inner);
            }
        }
        let value = self.eval(element, &mut inner);
        vec![Atom::Seq(value)]
    }

    fn fstring(&mut self, fstring: &'a ruff_python_ast::ExprFString, scope: &mut Scope) -> Value {
        let mut texts = vec![String::new()];
        for part in fstring.value.iter() {
            match part {
                FStringPart::Literal(literal) => texts.iter_mut().for_each(|text| text.push_str(literal.as_str())),
                FStringPart::FString(inner) => {
                    for element in &inner.elements {
                        let pieces: Vec<String> = match element {
                            InterpolatedStringElement::Literal(literal) => vec![literal.value.to_string()],
                            InterpolatedStringElement::Interpolation(interpolation) => {
                                let value = self.eval(&interpolation.expression, scope);
                                strings(&value).map(str::to_string).collect()
                            }
                        };
                        texts = concatenate(&texts, &pieces);
                    }
                }
            }
        }
        texts.into_iter().filter(|text| text.len() <= MAX_STRING).map(Atom::Str).collect()
    }

    fn call(&mut self, call: &'a ExprCall, scope: &mut Scope) -> Value {
        let callee = self.eval(&call.func, scope);
        let mut positional = Vec::new();
        for argument in &call.arguments.args {
            positional.push(self.eval(argument, scope));
        }
        let mut keywords = Vec::new();
        for keyword in &call.arguments.keywords {
            let value = self.eval(&keyword.value, scope);
            if let Some(name) = &keyword.arg {
                keywords.push((name.as_str().to_string(), value));
            }
        }
        let site: u32 = call.range().start().into();
        let mut result = Value::new();
        for atom in callee {
            match atom {
                Atom::Api(api) => {
                    let name = keywords.iter().find(|(k, _)| k == "name").map(|(_, v)| v).or(positional.first());
                    let name = name.cloned().unwrap_or_default();
                    union(&mut result, self.record(api, site, &name));
                }
                Atom::Function(id) => {
                    let value = self.call_function(id, &positional, &keywords, scope.module());
                    union(&mut result, value);
                }
                Atom::StrMethod(text, method) => {
                    let separator: Option<Vec<&str>> = positional.first().map(|v| strings(v).collect());
                    union(&mut result, string_method(&text, method, separator.as_deref()));
                }
                _ => {}
            }
        }
        result
    }

    /// Records a load call; returns what the call gives back to the code.
    fn record(&mut self, api: Api, site: u32, name: &Value) -> Value {
        let mut candidates = Vec::new();
        let mut result = Value::new();
        for atom in name {
            match (api, atom) {
                (Api::FindLibrary, Atom::Str(name)) => {
                    candidates.push(Candidate::FindLibrary(name.clone()));
                    result.push(Atom::Found { name: name.clone(), site });
                }
                (Api::Ctypes, Atom::Str(name)) => candidates.push(Candidate::Dlopen(name.clone())),
                (Api::Cffi, Atom::Str(name)) if name.contains(['.', '/']) => {
                    candidates.push(Candidate::Dlopen(name.clone()));
                }
                (Api::Cffi, Atom::Str(name)) => candidates.push(Candidate::FindLibrary(name.clone())),
                (Api::Ctypes | Api::Cffi, Atom::Found { name, site: found_at }) => {
                    candidates.push(Candidate::FindLibrary(name.clone()));
                    self.absorbed.insert(*found_at);
                }
                _ => {}
            }
        }
        if api == Api::FindLibrary {
            result.push(Atom::None);
        }
        let (_, known) = self.loads.entry(site).or_insert_with(|| (api, Vec::new()));
        for candidate in candidates {
            if !known.contains(&candidate) {
                known.push(candidate);
            }
        }
        result
    }

    /// A call of this module's function `id`: its body read with the
    /// parameters bound to the arguments (defaults for the others); gives
    /// what it returns, or for a generator, what it yields.
    fn call_function(&mut self, id: u32, positional: &[Value], keywords: &[(String, Value)], module: &Scope) -> Value {
        let Some(def) = self.functions.get(&id).copied() else { return Value::new() };
        let key = (id, positional.to_vec(), keywords.to_vec());
        if let Some(known) = self.memo.get(&key) {
            return known.clone();
        }
        if self.calling.contains(&id) || self.depth > MAX_DEPTH {
            return Value::new();
        }
        self.calling.insert(id);
        let mut local = Scope { parent: Some(module), ..Scope::default() };
        let parameters = &def.parameters;
        let ordered = parameters.posonlyargs.iter().chain(&parameters.args);
        for (index, parameter) in ordered.enumerate() {
            let name = parameter.parameter.name.as_str();
            let given = positional.get(index).or_else(|| keywords.iter().find(|(k, _)| k == name).map(|(_, v)| v));
            let value = match (given, &parameter.default) {
                (Some(value), _) => value.clone(),
                (None, Some(default)) => self.eval(default, &mut local),
                (None, None) => Value::new(),
            };
            local.bind(name, value);
        }
        for parameter in &parameters.kwonlyargs {
            let name = parameter.parameter.name.as_str();
            let value = match (keywords.iter().find(|(k, _)| k == name), &parameter.default) {
                (Some((_, value)), _) => value.clone(),
                (None, Some(default)) => self.eval(default, &mut local),
                (None, None) => Value::new(),
            };
            local.bind(name, value);
        }
        if let Some(rest) = &parameters.vararg {
            let fixed = parameters.posonlyargs.len() + parameters.args.len();
            let mut extra = Value::new();
            for value in positional.iter().skip(fixed) {
                union(&mut extra, value.iter().cloned());
            }
            local.bind(rest.name.as_str(), vec![Atom::Seq(extra)]);
        }
        for _ in 0..PASSES {
            local.changed = false;
            self.run(&def.body, &mut local);
            if !local.changed {
                break;
            }
        }
        self.calling.remove(&id);
        let value = if local.yielded.is_empty() { local.returned } else { vec![Atom::Seq(local.yielded)] };
        self.memo.insert(key, value.clone());
        value
    }
}

/// Whether a test of the platform holds on Linux: `sys.platform` is
/// "linux", `platform.system()` "Linux", `os.name` "posix"; compared with
/// `==`, `!=`, `in`, `not in`, `.startswith()`, and combined with `not`,
/// `and`, `or`. None for any other test.
fn on_linux(test: &Expr) -> Option<bool> {
    match test {
        Expr::Compare(compare) if compare.ops.len() == 1 => {
            let (left, right) = (&*compare.left, &compare.comparators[0]);
            let (value, other) = match (platform_value(left), platform_value(right)) {
                (Some(value), None) => (value, right),
                (None, Some(value)) => (value, left),
                _ => return None,
            };
            let literals = literal_strings(other)?;
            let found = literals.contains(&value);
            match compare.ops[0] {
                ruff_python_ast::CmpOp::Eq | ruff_python_ast::CmpOp::In => Some(found),
                ruff_python_ast::CmpOp::NotEq | ruff_python_ast::CmpOp::NotIn => Some(!found),
                _ => None,
            }
        }
        Expr::Call(call) => {
            let Expr::Attribute(method) = &*call.func else { return None };
            let value = platform_value(&method.value)?;
            let prefixes = literal_strings(call.arguments.args.first()?)?;
            (method.attr.as_str() == "startswith").then(|| prefixes.iter().any(|p| value.starts_with(p.as_str())))
        }
        Expr::UnaryOp(unary) if unary.op == ruff_python_ast::UnaryOp::Not => on_linux(&unary.operand).map(|b| !b),
        Expr::BoolOp(bool_op) => {
            let values: Vec<Option<bool>> = bool_op.values.iter().map(on_linux).collect();
            match bool_op.op {
                BoolOp::And if values.contains(&Some(false)) => Some(false),
                BoolOp::Or if values.contains(&Some(true)) => Some(true),
                _ if values.iter().all(Option::is_some) => Some(bool_op.op == BoolOp::And),
                _ => None,
            }
        }
        _ => None,
    }
}

/// What an expression naming the platform is on Linux.
fn platform_value(expr: &Expr) -> Option<String> {
    let dotted = |expr: &Expr| -> Option<String> {
        match expr {
            Expr::Attribute(attribute) => match &*attribute.value {
                Expr::Name(name) => Some(format!("{}.{}", name.id.as_str(), attribute.attr.as_str())),
                _ => None,
            },
            _ => None,
        }
    };
    // `platform.system().lower()` and `.upper()` are the same test.
    if let Expr::Call(call) = expr {
        if let Expr::Attribute(method) = &*call.func {
            let value = || platform_value(&method.value);
            match method.attr.as_str() {
                "lower" => return value().map(|v| v.to_lowercase()),
                "upper" => return value().map(|v| v.to_uppercase()),
                _ => {}
            }
        }
    }
    let name = match expr {
        Expr::Call(call) if call.arguments.args.is_empty() => format!("{}()", dotted(&call.func)?),
        other => dotted(other)?,
    };
    match name.as_str() {
        "sys.platform" | "_sys.platform" => Some("linux".into()),
        "platform.system()" | "_platform.system()" => Some("Linux".into()),
        "os.name" | "_os.name" => Some("posix".into()),
        _ => None,
    }
}

/// A string literal, or a tuple, list or set of them.
fn literal_strings(expr: &Expr) -> Option<Vec<String>> {
    match expr {
        Expr::StringLiteral(literal) => Some(vec![literal.value.to_str().to_string()]),
        Expr::Tuple(ruff_python_ast::ExprTuple { elts, .. })
        | Expr::List(ruff_python_ast::ExprList { elts, .. })
        | Expr::Set(ruff_python_ast::ExprSet { elts, .. }) => {
            elts.iter().map(|e| literal_strings(e).and_then(|mut v| v.pop())).collect()
        }
        _ => None,
    }
}

/// Every function definition, methods and nested ones included.
fn collect_functions<'a>(body: &'a [Stmt], into: &mut BTreeMap<u32, &'a StmtFunctionDef>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    for stmt in body {
        let nested: Vec<&'a [Stmt]> = match stmt {
            Stmt::FunctionDef(def) => {
                into.insert(def.range.start().into(), def);
                vec![&def.body]
            }
            Stmt::ClassDef(class) => vec![&class.body],
            Stmt::For(s) => vec![&s.body, &s.orelse],
            Stmt::While(s) => vec![&s.body, &s.orelse],
            Stmt::If(s) => {
                std::iter::once(&s.body[..]).chain(s.elif_else_clauses.iter().map(|c| &c.body[..])).collect()
            }
            Stmt::With(s) => vec![&s.body],
            Stmt::Try(s) => {
                let handlers = s.handlers.iter().map(|h| {
                    let ruff_python_ast::ExceptHandler::ExceptHandler(h) = h;
                    &h.body[..]
                });
                [&s.body[..], &s.orelse, &s.finalbody].into_iter().chain(handlers).collect()
            }
            Stmt::Match(s) => s.cases.iter().map(|c| &c.body[..]).collect(),
            _ => Vec::new(),
        };
        for body in nested {
            collect_functions(body, into, depth + 1);
        }
    }
}

fn bind(target: &Expr, value: Value, scope: &mut Scope) {
    match target {
        Expr::Name(name) => scope.bind(name.id.as_str(), value),
        Expr::Tuple(tuple) => unpack(&tuple.elts, &value, scope),
        Expr::List(list) => unpack(&list.elts, &value, scope),
        Expr::Starred(starred) => bind(&starred.value, value, scope),
        _ => {}
    }
}

/// `a, *b = value`: any item may go to any name.
fn unpack(targets: &[Expr], value: &Value, scope: &mut Scope) {
    let items = items(value);
    for target in targets {
        match target {
            Expr::Starred(starred) => bind(&starred.value, vec![Atom::Seq(items.clone())], scope),
            other => bind(other, items.clone(), scope),
        }
    }
}

fn string(text: &str) -> Value {
    if text.len() > MAX_STRING {
        return Value::new();
    }
    vec![Atom::Str(text.to_string())]
}

fn strings(value: &Value) -> impl Iterator<Item = &str> {
    value.iter().filter_map(|atom| match atom {
        Atom::Str(text) => Some(text.as_str()),
        _ => None,
    })
}

/// Every `left + right` of the strings each may be; capped.
fn concatenate(left: &[String], right: &[String]) -> Vec<String> {
    let mut joined = Vec::new();
    for l in left {
        for r in right {
            if joined.len() < MAX_ATOMS && l.len() + r.len() <= MAX_STRING {
                joined.push(format!("{l}{r}"));
            }
        }
    }
    joined
}

fn add(left: &Value, right: &Value) -> Value {
    let left: Vec<String> = strings(left).map(String::from).collect();
    let right: Vec<String> = strings(right).map(String::from).collect();
    concatenate(&left, &right).into_iter().map(Atom::Str).collect()
}

/// `"lib%s.so" % name` and `"%s-%s" % (a, b)`, for `%s` and `%d` only.
fn percent(format: &Value, arguments: &Value) -> Value {
    let mut results = Value::new();
    let tuple_items = items(arguments);
    for template in strings(format) {
        let slots = template.matches("%s").count() + template.matches("%d").count();
        let choices: Vec<&str> = match slots {
            1 => strings(arguments).chain(strings(&tuple_items)).collect(),
            _ => continue,
        };
        for choice in choices {
            let filled = template.replacen("%s", choice, 1).replacen("%d", choice, 1);
            union(&mut results, [Atom::Str(filled)]);
        }
    }
    results
}

fn string_method(text: &str, method: &str, arguments: Option<&[&str]>) -> Value {
    match method {
        "split" => {
            let parts: Vec<Atom> = match arguments.and_then(|a| a.first()) {
                Some(separator) if !separator.is_empty() => {
                    text.split(separator).map(|p| Atom::Str(p.to_string())).collect()
                }
                _ => text.split_whitespace().map(|p| Atom::Str(p.to_string())).collect(),
            };
            vec![Atom::Seq(parts)]
        }
        "strip" => vec![Atom::Str(text.trim().to_string())],
        "lower" => vec![Atom::Str(text.to_lowercase())],
        "upper" => vec![Atom::Str(text.to_uppercase())],
        _ => Value::new(),
    }
}

/// The last name of a dotted expression (`ctypes.cdll` gives `cdll`).
fn dotted_last(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Name(name) => Some(name.id.as_str()),
        Expr::Attribute(attribute) => Some(attribute.attr.as_str()),
        _ => None,
    }
}

/// `receiver.attr`. The loading calls are also recognised by their name
/// alone, whatever the receiver (`ffi.dlopen`, `self._ctypes.CDLL`), as a
/// receiver is rarely something this evaluator can know.
fn member(receiver: &Value, attr: &str, loader_name: bool) -> Value {
    let mut value = Value::new();
    for atom in receiver {
        match (atom, attr) {
            (Atom::Ctypes, "util") => value.push(Atom::CtypesUtil),
            (Atom::Ctypes, "cdll" | "pydll") => value.push(Atom::Loader),
            (Atom::Str(text), "split" | "strip" | "lower" | "upper") => {
                let method = match attr {
                    "split" => "split",
                    "strip" => "strip",
                    "lower" => "lower",
                    _ => "upper",
                };
                value.push(Atom::StrMethod(text.clone(), method));
            }
            _ => {}
        }
    }
    let by_name = match attr {
        "find_library" => Some(Api::FindLibrary),
        "CDLL" | "PyDLL" => Some(Api::Ctypes),
        "LoadLibrary" if loader_name || receiver.contains(&Atom::Loader) => Some(Api::Ctypes),
        "dlopen" => Some(Api::Cffi),
        _ => None,
    };
    union(&mut value, by_name.map(Atom::Api));
    value
}

/// What `import NAME` binds.
fn module_atom(name: &str) -> Option<Atom> {
    match name {
        "ctypes" => Some(Atom::Ctypes),
        "ctypes.util" => Some(Atom::CtypesUtil),
        _ => None,
    }
}

/// What `from MODULE import NAME` binds.
fn member_atom(module: &str, name: &str) -> Option<Atom> {
    match (module, name) {
        ("ctypes", "util") => Some(Atom::CtypesUtil),
        ("ctypes", "CDLL" | "PyDLL") => Some(Atom::Api(Api::Ctypes)),
        ("ctypes", "cdll" | "pydll") => Some(Atom::Loader),
        ("ctypes.util", "find_library") => Some(Atom::Api(Api::FindLibrary)),
        _ => None,
    }
}

/// A name no scope binds: ctypes' names as `from ctypes import *` gives them.
fn builtin(name: &str) -> Option<Atom> {
    match name {
        "CDLL" | "PyDLL" => Some(Atom::Api(Api::Ctypes)),
        "cdll" | "pydll" => Some(Atom::Loader),
        "find_library" => Some(Atom::Api(Api::FindLibrary)),
        "ctypes" => Some(Atom::Ctypes),
        _ => None,
    }
}

/// A name Linux never loads: Windows' and macOS's (`.dll`, `.dylib`, a
/// backslash), a file name for dlopen without `.so` in it (`kernel32`), and
/// a path relative to the working directory, which nothing fixes.
fn foreign(candidate: &Candidate) -> bool {
    let (name, dlopen) = match candidate {
        Candidate::FindLibrary(name) => (name.to_ascii_lowercase(), false),
        Candidate::Dlopen(name) => (name.to_ascii_lowercase(), true),
    };
    let relative = name.contains('/') && !name.starts_with('/');
    name.ends_with(".dll")
        || name.contains(".dylib")
        || name.contains(".framework")
        || name.contains('\\')
        || relative
        || (dlopen && !name.contains(".so"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(source: &str) -> Vec<(u32, Api, Vec<String>)> {
        loads(source)
            .into_iter()
            .map(|load| (load.line, load.api, load.candidates.iter().map(|c| c.to_string()).collect()))
            .collect()
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn literal_names_in_each_spelling_of_the_calls() {
        let source = r#"
import ctypes
import ctypes.util
from ctypes import CDLL, cdll
from ctypes.util import find_library as _find
libpq = ctypes.util.find_library("pq")
a = ctypes.CDLL("libz.so.1")
b = cdll.LoadLibrary('libbz2.so.1.0')
c = CDLL(_find("magic"))
d = ctypes.cdll.LoadLibrary("liblzma.so.5")
e = ffi.dlopen("cairo")
f = ffi.dlopen("libcairo.so.2")
g = ctypes.PyDLL(name="libexpat.so.1")
"#;
        assert_eq!(
            found(source),
            vec![
                (6, Api::FindLibrary, names(&["find_library('pq')"])),
                (7, Api::Ctypes, names(&["'libz.so.1'"])),
                (8, Api::Ctypes, names(&["'libbz2.so.1.0'"])),
                (9, Api::Ctypes, names(&["find_library('magic')"])),
                (10, Api::Ctypes, names(&["'liblzma.so.5'"])),
                (11, Api::Cffi, names(&["find_library('cairo')"])),
                (12, Api::Cffi, names(&["'libcairo.so.2'"])),
                (13, Api::Ctypes, names(&["'libexpat.so.1'"])),
            ]
        );
    }

    #[test]
    fn comments_docstrings_and_other_calls_do_not_count() {
        let source = r#"
"""Call ctypes.CDLL("libdoc.so.1") to load it."""
# cdll.LoadLibrary("libcomment.so.1")
def f():
    'find_library("docstring")'
    return "CDLL('libstring.so.1')"
x = windll.LoadLibrary("kernel32")
k = ctypes.CDLL("kernel32")
here = ffi.dlopen("./libdistributions.so")
y = something.LoadLibrary("libother.so")
"#;
        assert_eq!(found(source), vec![]);
    }

    #[test]
    fn windows_and_macos_names_are_dropped_and_a_group_of_only_those_is_none() {
        let source = r#"
import ctypes
for name in ("libfoo.so.1", "foo.dll", "libfoo.1.dylib", "bin\\libfoo-1.dll"):
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        pass
win = ctypes.CDLL("kernel32.dll")
"#;
        assert_eq!(found(source), vec![(5, Api::Ctypes, names(&["'libfoo.so.1'"]))]);
    }

    #[test]
    fn python_magic_generator_of_candidates() {
        // python-magic 0.4.27's magic/loader.py, abridged.
        let source = r#"
from ctypes.util import find_library
import ctypes
import sys
import glob
import os.path

def _lib_candidates():

  yield find_library('magic')

  if sys.platform == 'darwin':

    paths = [
      '/opt/local/lib',
      '/usr/local/lib',
      '/opt/homebrew/lib',
    ] + glob.glob('/usr/local/Cellar/libmagic/*/lib')

    for i in paths:
      yield os.path.join(i, 'libmagic.dylib')

  elif sys.platform in ('win32', 'cygwin'):

    prefixes = ['libmagic', 'magic1', 'cygmagic-1', 'libmagic-1', 'msys-magic-1']

    for i in prefixes:
      # find_library searches in %PATH% but not the current directory,
      # so look for both
      yield './%s.dll' % (i,)
      yield find_library(i)

  elif sys.platform == 'linux':
    # This is necessary because find_library returns None if it doesn't find the library
    yield 'libmagic.so.1'


def load_lib():

  for lib in _lib_candidates():
    # find_library returns None when lib not found
    if lib is None:
      continue
    try:
      return ctypes.CDLL(lib)
    except OSError:
      pass
  else:
    # It is better to raise an ImportError since we are importing magic module
    raise ImportError('failed to find libmagic.  Check your installation')
"#;
        let loads = found(source);
        assert_eq!(loads.len(), 1, "{loads:?}");
        let (line, api, candidates) = &loads[0];
        assert_eq!((*line, *api), (45, Api::Ctypes));
        assert_eq!(candidates[0], "find_library('magic')");
        assert!(candidates.contains(&"'libmagic.so.1'".to_string()), "{candidates:?}");
        // The Windows prefixes go through find_library too: harmless, never found.
        assert!(candidates.iter().all(|c| !c.contains(".dll") && !c.contains(".dylib")), "{candidates:?}");
    }

    #[test]
    fn cairocffi_helper_function_with_tuples_of_names() {
        // cairocffi 1.7.1's __init__.py, abridged.
        let source = r#"
from ctypes.util import find_library
from ._generated.ffi import ffi

def dlopen(ffi, library_names, filenames):
    """Try various names for the same library, for different platforms."""
    exceptions = []

    for library_name in library_names:
        library_filename = find_library(library_name)
        if library_filename:
            filenames = (library_filename, *filenames)
        else:
            exceptions.append(
                'no library called "{}" was found'.format(library_name))

    for filename in filenames:
        try:
            return ffi.dlopen(filename)
        except OSError as exception:  # pragma: no cover
            exceptions.append(exception)

    error_message = '\n'.join(  # pragma: no cover
        str(exception) for exception in exceptions)
    raise OSError(error_message)  # pragma: no cover


cairo = dlopen(
    ffi, ('cairo-2', 'cairo', 'libcairo-2'),
    ('libcairo.so.2', 'libcairo.2.dylib', 'libcairo-2.dll'))
"#;
        let loads = found(source);
        assert_eq!(loads.len(), 1, "{loads:?}");
        let (line, api, candidates) = &loads[0];
        assert_eq!((*line, *api), (19, Api::Cffi));
        let mut sorted = candidates.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            names(&[
                "'libcairo.so.2'",
                "find_library('cairo')",
                "find_library('cairo-2')",
                "find_library('libcairo-2')"
            ])
        );
    }

    #[test]
    fn sounddevice_loop_rebinding_its_own_variable() {
        // sounddevice 0.5's module top, abridged.
        let source = r#"
from ctypes.util import find_library as _find_library
from _sounddevice import ffi as _ffi

try:
    for _libname in (
            'portaudio',  # Default name on POSIX systems
            'bin\\libportaudio-2.dll',  # DLL from conda-forge
            'lib/libportaudio.dylib',  # dylib from Homebrew
            ):
        _libname = _find_library(_libname)
        if _libname is not None:
            break
    else:
        raise OSError('PortAudio library not found')
    _lib = _ffi.dlopen(_libname)
except OSError:
    if _platform.system() == 'Darwin':
        _libname = 'libportaudio.dylib'
    elif _platform.system() == 'Windows':
        _libname = 'libportaudio' + _platform.architecture()[0] + '.dll'
    else:
        raise
    import _sounddevice_data
    _libname = _os.path.join(
        next(iter(_sounddevice_data.__path__)), 'portaudio-binaries', _libname)
    _lib = _ffi.dlopen(_libname)
"#;
        // On Linux the fallback's `else: raise` ends the except clause.
        assert_eq!(found(source), vec![(16, Api::Cffi, names(&["find_library('portaudio')"]))]);
    }

    #[test]
    fn lists_of_alternatives_in_module_constants_and_or_chains() {
        let source = r#"
import ctypes, ctypes.util
_NAMES = ['libusb-1.0.so.0', 'libusb-1.0.so']
library_paths = (
    'libhidapi-hidraw.so',
    'libhidapi-hidraw.so.0',
    'libhidapi-libusb.so',
    'hidapi.dll',
)
for lib in library_paths:
    try:
        hidapi = ctypes.cdll.LoadLibrary(lib)
        break
    except OSError:
        pass

def load():
    for name in _NAMES:
        try:
            return ctypes.CDLL(name)
        except OSError:
            pass
    return ctypes.CDLL(ctypes.util.find_library('usb-1.0'))

sodium = ctypes.cdll.LoadLibrary(ctypes.util.find_library('sodium') or ctypes.util.find_library('libsodium'))
names = "fluidsynth libfluidsynth-3 libfluidsynth-2".split()
fs = [ctypes.util.find_library(n) for n in names]
"#;
        assert_eq!(
            found(source),
            vec![
                (
                    12,
                    Api::Ctypes,
                    names(&["'libhidapi-hidraw.so'", "'libhidapi-hidraw.so.0'", "'libhidapi-libusb.so'"])
                ),
                (20, Api::Ctypes, names(&["'libusb-1.0.so.0'", "'libusb-1.0.so'"])),
                (23, Api::Ctypes, names(&["find_library('usb-1.0')"])),
                (25, Api::Ctypes, names(&["find_library('sodium')", "find_library('libsodium')"])),
                (
                    27,
                    Api::FindLibrary,
                    names(&[
                        "find_library('fluidsynth')",
                        "find_library('libfluidsynth-3')",
                        "find_library('libfluidsynth-2')"
                    ])
                ),
            ]
        );
    }

    #[test]
    fn django_geos_branches_and_a_library_computed_from_settings() {
        // Django 5.2's contrib/gis/geos/libgeos.py, abridged.
        let source = r#"
import logging
import os
from ctypes import CDLL, CFUNCTYPE, POINTER, Structure, c_char_p
from ctypes.util import find_library

def load_geos():
    # Custom library path set?
    try:
        from django.conf import settings

        lib_path = settings.GEOS_LIBRARY_PATH
    except (AttributeError, ImportError, ImproperlyConfigured, OSError):
        lib_path = None

    # Setting the appropriate names for the GEOS-C library.
    if lib_path:
        lib_names = None
    elif os.name == "nt":
        # Windows NT libraries
        lib_names = ["geos_c", "libgeos_c-1"]
    elif os.name == "posix":
        # *NIX libraries
        lib_names = ["geos_c", "GEOS"]
    else:
        raise ImportError('Unsupported OS "%s"' % os.name)

    # Using the ctypes `find_library` utility to find the path to the GEOS
    # shared library.  This is better than manually specifying each library name
    # and extension (e.g., libgeos_c.[so|so.1|dylib].).
    if lib_names:
        for lib_name in lib_names:
            lib_path = find_library(lib_name)
            if lib_path is not None:
                break

    # No GEOS library could be found.
    if lib_path is None:
        raise ImportError(
            'Could not find the GEOS library (tried "%s"). '
            "Try setting GEOS_LIBRARY_PATH in your settings." % '", "'.join(lib_names)
        )
    # Getting the GEOS C library.  The C interface (CDLL) is used for
    # both *NIX and Windows.
    # See the GEOS C API source code for more details on the library function calls:
    # https://libgeos.org/doxygen/geos__c_8h_source.html
    _lgeos = CDLL(lib_path)
"#;
        assert_eq!(
            found(source),
            vec![(
                47,
                Api::Ctypes,
                // libgeos_c-1 is the Windows name, in the `os.name == "nt"` branch.
                names(&["find_library('geos_c')", "find_library('GEOS')"])
            )]
        );
    }

    #[test]
    fn fstrings_percent_and_concatenation_build_names() {
        let source = r#"
import ctypes
from ctypes.util import find_library
def library_name(name, abi_number):
    return f"lib{name}.so.{abi_number}"
vips = ffi.dlopen(library_name("vips", 42))
suffix = "-7.Q16"
wand = find_library("MagickWand" + suffix)
gs = ctypes.CDLL("lib%s.so.10" % "gs")
"#;
        assert_eq!(
            found(source),
            vec![
                (6, Api::Cffi, names(&["'libvips.so.42'"])),
                (8, Api::FindLibrary, names(&["find_library('MagickWand-7.Q16')"])),
                (9, Api::Ctypes, names(&["'libgs.so.10'"])),
            ]
        );
    }

    #[test]
    fn names_computed_at_run_time_are_a_load_without_candidates() {
        let source = "import ctypes, os\nlib = ctypes.CDLL(os.environ['LIBFOO'])\n";
        assert_eq!(found(source), vec![(2, Api::Ctypes, vec![])]);
    }

    #[test]
    fn broken_deep_and_recursive_sources_end_quickly() {
        let deep = format!("import ctypes\nx = {}1{}\nctypes.CDLL('libz.so.1')\n", "(".repeat(5000), ")".repeat(5000));
        loads(&deep);
        let broken = "import ctypes\ndef f(:\n  ctypes.CDLL('libz.so.1')\nprint 'python 2'\n";
        loads(broken);
        // A `\N{...}` escape (whose names this build does not know: see
        // third_party/README.md) spoils only its own literal.
        let named = "import ctypes\ndash = '\\N{EM DASH}'\nctypes.CDLL('libz.so.1')\n";
        assert_eq!(found(named), vec![(3, Api::Ctypes, names(&["'libz.so.1'"]))]);
        let recursive = "import ctypes\ndef f(x):\n    return f(x + 'a')\nctypes.CDLL(f('lib'))\n";
        assert_eq!(found(recursive), vec![(4, Api::Ctypes, vec![])]);
        let growing = "import ctypes\nx = 'libx.so.'\nwhile True:\n    x = x + x\n    ctypes.CDLL(x)\n";
        let loads = found(growing);
        assert!(loads[0].2.len() <= MAX_ATOMS, "{}", loads[0].2.len());
    }

    #[test]
    fn branches_for_other_platforms_are_not_read() {
        // urllib3's contrib/_securetransport/bindings.py, which pip vendors.
        let macos_only = r#"
import platform
from ctypes import CDLL
from ctypes.util import find_library
if platform.system() != "Darwin":
    raise ImportError("Only macOS is supported")
Security = CDLL(find_library("Security"), use_errno=True)
def load_cdll(name):
    return CDLL(find_library(name))
"#;
        assert_eq!(found(macos_only), vec![]);
        let branches = r#"
import sys, os, platform, ctypes
if sys.platform == "win32":
    a = ctypes.CDLL("foo")
elif sys.platform.startswith("linux") and not os.name == "nt":
    a = ctypes.CDLL("libfoo.so.1")
else:
    a = ctypes.CDLL("libbar.so.1")
if os.name in ("nt", "ce"):
    b = ctypes.CDLL("baz")
if platform.system().upper().startswith("CYGWIN"):
    b = ctypes.CDLL("libcygwin.so")
if os.environ.get("X"):
    c = ctypes.CDLL("libunknown.so.1")
else:
    c = ctypes.CDLL("libother.so.1")
def f():
    if sys.platform != "linux":
        raise OSError
    return ctypes.CDLL("libinf.so.1")
"#;
        assert_eq!(
            found(branches),
            vec![
                (6, Api::Ctypes, names(&["'libfoo.so.1'"])),
                (14, Api::Ctypes, names(&["'libunknown.so.1'"])),
                (16, Api::Ctypes, names(&["'libother.so.1'"])),
                (20, Api::Ctypes, names(&["'libinf.so.1'"])),
            ]
        );
    }

    #[test]
    fn a_group_naming_macos_files_is_marked_as_other_platforms_code() {
        // pip's vendored truststore/_macos.py, abridged: no platform test guards it.
        let source = r#"
from ctypes import CDLL
from ctypes.util import find_library
def _load_cdll(name, macos10_16_path):
    path = find_library(name) or macos10_16_path
    return CDLL(path, use_errno=True)
Security = _load_cdll("Security", "/System/Library/Frameworks/Security.framework/Security")
"#;
        let loads = loads(source);
        assert_eq!(loads.len(), 1, "{loads:?}");
        assert!(loads[0].other_platforms && loads[0].candidates == [Candidate::FindLibrary("Security".into())]);
        let linux_only = super::loads("import ctypes\nctypes.CDLL('libz.so.1')\n");
        assert!(!linux_only[0].other_platforms);
        let both = super::loads("import ctypes\nfor n in ('libz.so.1', 'z.dll'):\n    ctypes.CDLL(n)\n");
        assert!(!both[0].other_platforms, "it names a Linux file too");
    }

    #[test]
    fn needles_prefilter_sources() {
        let searcher = needle_searcher();
        assert!(may_load(b"x = ctypes.CDLL('a')", &searcher));
        assert!(may_load(b"ffi.dlopen(x)", &searcher));
        assert!(!may_load(b"import numpy as np\nprint(np.ones(3))\n", &searcher));
        assert!(!may_load(b"def find_library_file(self, dirs, lib): ...", &searcher));
        assert!(may_load(b"def find_library_file(d): ...\nfind_library('c')", &searcher));
        assert!(may_load(b"from ctypes import cdll", &searcher));
    }
}
