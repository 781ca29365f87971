// Command gen-openapi-enums writes the enum values of the Kubernetes API
// types for internal/apiserver/openapi, which cannot find them by
// reflection: Go keeps no list of a type's constants at run time.
//
// It parses the k8s.io/api sources of the module version in go.mod and
// finds what upstream's openapi-gen finds: every string type whose doc
// comment carries the +enum tag, and every constant of such a type with the
// comment right above it. The output maps each type ("k8s.io/api/apps/v1.
// DeploymentStrategyType") to its values, ordered and documented as
// openapi-gen renders them in the "Possible enum values" paragraph.
//
// It runs from the openapi package's go:generate directive:
//
//	cd internal/apiserver/openapi && go generate
//
// or, from the repository root, without go generate:
//
//	go run ./hack/gen-openapi-enums -o internal/apiserver/openapi/zz_generated_enums.go
package main

import (
	"bytes"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/build"
	"go/constant"
	"go/format"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

const apiModule = "k8s.io/api"

func main() {
	out := flag.String("o", "zz_generated_enums.go", "file to write")
	dir := flag.String("api-dir", "", "directory of the k8s.io/api module (default: the go.mod version, from go list -m)")
	flag.Parse()
	if err := run(*out, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "gen-openapi-enums:", err)
		os.Exit(1)
	}
}

func run(out, dir string) error {
	version := ""
	if dir == "" {
		var err error
		if dir, version, err = moduleDir(apiModule); err != nil {
			return err
		}
	}
	u, err := load(dir)
	if err != nil {
		return err
	}
	enums, err := u.enums()
	if err != nil {
		return err
	}
	src, err := render(enums, version)
	if err != nil {
		return err
	}
	return os.WriteFile(out, src, 0o644)
}

// moduleDir asks the go command where the build's version of module lives.
func moduleDir(module string) (dir, version string, err error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}\t{{.Version}}", module)
	cmd.Stderr = os.Stderr
	data, err := cmd.Output()
	if err != nil {
		return "", "", fmt.Errorf("go list -m %s: %w", module, err)
	}
	dir, version, _ = strings.Cut(strings.TrimSpace(string(data)), "\t")
	if dir == "" {
		return "", "", fmt.Errorf("go list -m %s: the module has no directory (not downloaded, or vendored?)", module)
	}
	return dir, version, nil
}

// A universe is the parsed packages of the module.
type universe struct {
	fset *token.FileSet
	pkgs map[string]*pkg // by import path
}

type pkg struct {
	path, name string
	// input: upstream runs openapi-gen over the packages tagged
	// +k8s:openapi-gen; only their constants count as enum values.
	input  bool
	types  map[string]*typeDecl
	consts map[string]*constDecl
}

type file struct {
	pkg     *pkg
	imports map[string]string // local name -> import path; resolved lazily for unnamed imports
	raw     []*ast.ImportSpec
	// comments by the line they end on: openapi-gen (gengo) takes as an
	// object's doc the comment group ending on the line above it.
	endLine map[int]*ast.CommentGroup
}

type typeDecl struct {
	file *file
	spec *ast.TypeSpec
	doc  []string
}

type constDecl struct {
	file  *file
	name  *ast.Ident
	typ   ast.Expr // declared type, nil if none
	value ast.Expr // nil: none (an error for a string constant)
	iota  int64
	doc   []string
	// memoised
	resolving bool
	typeKey   *typeKey
	val       constant.Value
}

// typeKey names a type: package path and name; a predeclared type has an
// empty path.
type typeKey struct{ pkg, name string }

func (k typeKey) String() string {
	if k.pkg == "" {
		return k.name
	}
	return k.pkg + "." + k.name
}

var stringType = typeKey{name: "string"}

// load parses every package of the module in dir, honouring build
// constraints the way the go command would.
func load(dir string) (*universe, error) {
	u := &universe{fset: token.NewFileSet(), pkgs: map[string]*pkg{}}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if n := d.Name(); p != dir && (n == "testdata" || strings.HasPrefix(n, ".") || strings.HasPrefix(n, "_")) {
			return filepath.SkipDir
		}
		bp, err := build.Default.ImportDir(p, 0)
		if err != nil {
			var noGo *build.NoGoError
			if errors.As(err, &noGo) {
				return nil
			}
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		importPath := path.Join(apiModule, filepath.ToSlash(rel))
		return u.parsePackage(importPath, bp)
	})
	if err != nil {
		return nil, err
	}
	if len(u.pkgs) == 0 {
		return nil, fmt.Errorf("no Go packages under %s", dir)
	}
	return u, nil
}

var openapiGenTag = regexp.MustCompile(`(?m)^// \+k8s:openapi-gen=`)

func (u *universe) parsePackage(importPath string, bp *build.Package) error {
	p := &pkg{path: importPath, name: bp.Name, types: map[string]*typeDecl{}, consts: map[string]*constDecl{}}
	u.pkgs[importPath] = p
	for _, name := range bp.GoFiles {
		filename := filepath.Join(bp.Dir, name)
		src, err := os.ReadFile(filename)
		if err != nil {
			return err
		}
		if openapiGenTag.Match(src) {
			p.input = true
		}
		af, err := parser.ParseFile(u.fset, filename, src, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		f := &file{pkg: p, imports: map[string]string{}, raw: af.Imports, endLine: map[int]*ast.CommentGroup{}}
		for _, c := range af.Comments {
			f.endLine[u.fset.Position(c.End()).Line] = c
		}
		for _, decl := range af.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok {
				continue
			}
			switch gd.Tok {
			case token.TYPE:
				for _, s := range gd.Specs {
					ts := s.(*ast.TypeSpec)
					p.types[ts.Name.Name] = &typeDecl{file: f, spec: ts, doc: u.docOf(f, ts.Name)}
				}
			case token.CONST:
				// A spec without type and values repeats the previous
				// ones, with the next iota.
				var typ ast.Expr
				var values []ast.Expr
				for i, s := range gd.Specs {
					vs := s.(*ast.ValueSpec)
					if vs.Type != nil || len(vs.Values) > 0 {
						typ, values = vs.Type, vs.Values
					}
					for j, n := range vs.Names {
						if n.Name == "_" {
							continue
						}
						c := &constDecl{file: f, name: n, typ: typ, iota: int64(i), doc: u.docOf(f, n)}
						if j < len(values) {
							c.value = values[j]
						}
						p.consts[n.Name] = c
					}
				}
			}
		}
	}
	return nil
}

// docOf returns the comment lines of the group ending on the line above
// the identifier, as gengo's parser does for every object.
func (u *universe) docOf(f *file, id *ast.Ident) []string {
	c := f.endLine[u.fset.Position(id.Pos()).Line-1]
	return strings.Split(strings.TrimRight(c.Text(), "\n"), "\n") // Text is "" for nil
}

// importPath resolves a package name used in f.
func (u *universe) importPath(f *file, name string) (string, bool) {
	if p, ok := f.imports[name]; ok {
		return p, p != ""
	}
	found := ""
	for _, is := range f.raw {
		ip, err := strconv.Unquote(is.Path.Value)
		if err != nil {
			continue
		}
		local := ""
		switch {
		case is.Name != nil:
			local = is.Name.Name
		case u.pkgs[ip] != nil:
			local = u.pkgs[ip].name
		default:
			local = path.Base(ip) // a package outside the module: best guess
		}
		if local == name {
			found = ip
			break
		}
	}
	f.imports[name] = found
	return found, found != ""
}

// lookupType resolves a type expression to the named type it denotes,
// following Go type aliases (type A = B), which reflection cannot see.
// A type outside the module resolves to its name without declaration.
func (u *universe) lookupType(f *file, e ast.Expr) (typeKey, *typeDecl, bool) {
	var key typeKey
	switch e := e.(type) {
	case *ast.ParenExpr:
		return u.lookupType(f, e.X)
	case *ast.Ident:
		if d, ok := f.pkg.types[e.Name]; ok {
			key = typeKey{f.pkg.path, e.Name}
			if d.spec.Assign.IsValid() {
				return u.lookupType(d.file, d.spec.Type)
			}
			return key, d, true
		}
		if isPredeclaredType(e.Name) {
			return typeKey{name: e.Name}, nil, true
		}
		return typeKey{}, nil, false
	case *ast.SelectorExpr:
		x, ok := e.X.(*ast.Ident)
		if !ok {
			return typeKey{}, nil, false
		}
		ip, ok := u.importPath(f, x.Name)
		if !ok {
			return typeKey{}, nil, false
		}
		key = typeKey{ip, e.Sel.Name}
		p, ok := u.pkgs[ip]
		if !ok {
			return key, nil, true
		}
		d, ok := p.types[e.Sel.Name]
		if !ok {
			return typeKey{}, nil, false
		}
		if d.spec.Assign.IsValid() {
			return u.lookupType(d.file, d.spec.Type)
		}
		return key, d, true
	}
	return typeKey{}, nil, false
}

func isPredeclaredType(name string) bool {
	switch name {
	case "bool", "string", "byte", "rune", "int", "int8", "int16", "int32", "int64",
		"uint", "uint8", "uint16", "uint32", "uint64", "uintptr", "float32", "float64",
		"complex64", "complex128", "error", "any":
		return true
	}
	return false
}

// stringBased reports whether the underlying type of d is string.
func (u *universe) stringBased(d *typeDecl) bool {
	for range 100 { // a cycle would not compile; bound it anyway
		k, next, ok := u.lookupType(d.file, d.spec.Type)
		if !ok {
			return false
		}
		if k == stringType {
			return true
		}
		if next == nil {
			return false
		}
		d = next
	}
	return false
}

// lookupConst resolves an identifier or qualified identifier to a constant.
func (u *universe) lookupConst(f *file, e ast.Expr) (*constDecl, bool) {
	switch e := e.(type) {
	case *ast.Ident:
		c, ok := f.pkg.consts[e.Name]
		return c, ok
	case *ast.SelectorExpr:
		x, ok := e.X.(*ast.Ident)
		if !ok {
			return nil, false
		}
		ip, ok := u.importPath(f, x.Name)
		if !ok || u.pkgs[ip] == nil {
			return nil, false
		}
		c, ok := u.pkgs[ip].consts[e.Sel.Name]
		return c, ok
	}
	return nil, false
}

// constType is the type of c, zero for an untyped constant.
func (u *universe) constType(c *constDecl) (typeKey, error) {
	if c.typeKey != nil {
		return *c.typeKey, nil
	}
	if c.resolving {
		return typeKey{}, fmt.Errorf("%s: constant %s refers to itself", u.fset.Position(c.name.Pos()), c.name.Name)
	}
	c.resolving = true
	defer func() { c.resolving = false }()
	var k typeKey
	var err error
	if c.typ != nil {
		var ok bool
		if k, _, ok = u.lookupType(c.file, c.typ); !ok {
			return typeKey{}, fmt.Errorf("%s: cannot resolve the type of constant %s", u.fset.Position(c.name.Pos()), c.name.Name)
		}
	} else if c.value != nil {
		if k, err = u.exprType(c.file, c.value); err != nil {
			return typeKey{}, err
		}
	}
	c.typeKey = &k
	return k, nil
}

// exprType is the type of a constant expression, zero when untyped.
func (u *universe) exprType(f *file, e ast.Expr) (typeKey, error) {
	switch e := e.(type) {
	case *ast.ParenExpr:
		return u.exprType(f, e.X)
	case *ast.BasicLit:
		return typeKey{}, nil
	case *ast.Ident, *ast.SelectorExpr:
		if c, ok := u.lookupConst(f, e); ok {
			return u.constType(c)
		}
		return typeKey{}, nil // iota, true, false, or a constant outside the module
	case *ast.CallExpr:
		if k, _, ok := u.lookupType(f, e.Fun); ok {
			return k, nil // a conversion
		}
		return typeKey{}, nil // len, or a constant function outside the module
	case *ast.UnaryExpr:
		return u.exprType(f, e.X)
	case *ast.BinaryExpr:
		switch e.Op {
		case token.EQL, token.NEQ, token.LSS, token.LEQ, token.GTR, token.GEQ:
			return typeKey{}, nil
		case token.SHL, token.SHR:
			return u.exprType(f, e.X)
		}
		x, err := u.exprType(f, e.X)
		if err != nil || x != (typeKey{}) {
			return x, err
		}
		return u.exprType(f, e.Y)
	}
	return typeKey{}, fmt.Errorf("%s: unsupported constant expression %T", u.fset.Position(e.Pos()), e)
}

// constValue evaluates c.
func (u *universe) constValue(c *constDecl) (constant.Value, error) {
	if c.val != nil {
		return c.val, nil
	}
	if c.value == nil {
		return nil, fmt.Errorf("%s: constant %s has no value", u.fset.Position(c.name.Pos()), c.name.Name)
	}
	if c.resolving {
		return nil, fmt.Errorf("%s: constant %s refers to itself", u.fset.Position(c.name.Pos()), c.name.Name)
	}
	c.resolving = true
	defer func() { c.resolving = false }()
	v, err := u.eval(c.file, c.value, c.iota)
	if err != nil {
		return nil, err
	}
	c.val = v
	return v, nil
}

func (u *universe) eval(f *file, e ast.Expr, iota int64) (constant.Value, error) {
	bad := func() (constant.Value, error) {
		return nil, fmt.Errorf("%s: cannot evaluate constant expression %T", u.fset.Position(e.Pos()), e)
	}
	switch e := e.(type) {
	case *ast.ParenExpr:
		return u.eval(f, e.X, iota)
	case *ast.BasicLit:
		v := constant.MakeFromLiteral(e.Value, e.Kind, 0)
		if v.Kind() == constant.Unknown {
			return bad()
		}
		return v, nil
	case *ast.Ident:
		switch e.Name {
		case "iota":
			if _, shadowed := f.pkg.consts["iota"]; !shadowed {
				return constant.MakeInt64(iota), nil
			}
		case "true", "false":
			if _, shadowed := f.pkg.consts[e.Name]; !shadowed {
				return constant.MakeBool(e.Name == "true"), nil
			}
		}
		if c, ok := u.lookupConst(f, e); ok {
			return u.constValue(c)
		}
	case *ast.SelectorExpr:
		if c, ok := u.lookupConst(f, e); ok {
			return u.constValue(c)
		}
	case *ast.CallExpr:
		// Only conversions between string types keep the value as it is.
		if k, d, ok := u.lookupType(f, e.Fun); ok && len(e.Args) == 1 && (k == stringType || d != nil && u.stringBased(d)) {
			v, err := u.eval(f, e.Args[0], iota)
			if err != nil {
				return nil, err
			}
			if v.Kind() == constant.String {
				return v, nil
			}
		}
	case *ast.UnaryExpr:
		x, err := u.eval(f, e.X, iota)
		if err != nil {
			return nil, err
		}
		return constant.UnaryOp(e.Op, x, 0), nil
	case *ast.BinaryExpr:
		x, err := u.eval(f, e.X, iota)
		if err != nil {
			return nil, err
		}
		y, err := u.eval(f, e.Y, iota)
		if err != nil {
			return nil, err
		}
		switch e.Op {
		case token.SHL, token.SHR:
			s, ok := constant.Uint64Val(y)
			if !ok {
				return bad()
			}
			return constant.Shift(x, e.Op, uint(s)), nil
		case token.EQL, token.NEQ, token.LSS, token.LEQ, token.GTR, token.GEQ:
			return constant.MakeBool(constant.Compare(x, e.Op, y)), nil
		}
		if x.Kind() != y.Kind() && (x.Kind() == constant.String || y.Kind() == constant.String) {
			return bad()
		}
		return constant.BinaryOp(x, e.Op, y), nil
	}
	return bad()
}

// enumValue is one value of an enum type.
type enumValue struct {
	name    string // the constant's name
	value   string
	comment string // the constant's comment lines joined by spaces
}

// enumTag reports whether comment lines carry the +enum tag, as gengo's
// ExtractCommentTags("+", lines)["enum"] does.
func enumTag(lines []string) bool {
	for _, l := range lines {
		l = strings.Trim(l, " ")
		if !strings.HasPrefix(l, "+") {
			continue
		}
		if k, _, _ := strings.Cut(l[1:], "="); k == "enum" {
			return true
		}
	}
	return false
}

// enums finds the enum types and their values.
func (u *universe) enums() (map[typeKey][]enumValue, error) {
	paths := slices.Sorted(maps.Keys(u.pkgs))
	out := map[typeKey][]enumValue{}
	for _, p := range paths {
		pk := u.pkgs[p]
		if !pk.input {
			continue
		}
		for _, name := range slices.Sorted(maps.Keys(pk.types)) {
			d := pk.types[name]
			if !enumTag(d.doc) {
				continue
			}
			// A +enum alias marks the type it stands for.
			k, target, ok := u.lookupType(d.file, &ast.Ident{Name: name, NamePos: d.spec.Name.Pos()})
			if !ok || target == nil || !u.stringBased(target) {
				// openapi-gen ignores the tag on other types.
				fmt.Fprintf(os.Stderr, "gen-openapi-enums: %s: ignoring +enum on %s, not a string type of %s\n",
					u.fset.Position(d.spec.Pos()), name, apiModule)
				continue
			}
			if _, ok := out[k]; !ok {
				out[k] = nil
			}
		}
	}
	for _, p := range paths {
		pk := u.pkgs[p]
		if !pk.input {
			continue
		}
		for _, name := range slices.Sorted(maps.Keys(pk.consts)) {
			c := pk.consts[name]
			k, err := u.constType(c)
			if err != nil {
				return nil, err
			}
			values, ok := out[k]
			if !ok {
				continue
			}
			v, err := u.constValue(c)
			if err != nil {
				return nil, err
			}
			if v.Kind() != constant.String {
				return nil, fmt.Errorf("%s: constant %s of enum type %s is not a string", u.fset.Position(c.name.Pos()), name, k)
			}
			out[k] = addIfNotPresent(values, enumValue{
				name:    name,
				value:   constant.StringVal(v),
				comment: strings.Join(c.doc, " "),
			})
		}
	}
	return out, nil
}

// addIfNotPresent keeps one constant per value, as openapi-gen does when a
// package re-exports another's constants: the longer comment wins, then
// the smaller one.
func addIfNotPresent(values []enumValue, v enumValue) []enumValue {
	for i, e := range values {
		if e.value == v.value {
			if len(e.comment) < len(v.comment) || len(e.comment) == len(v.comment) && e.comment > v.comment {
				values[i] = v
			}
			return values
		}
	}
	return append(values, v)
}

var whitespace = regexp.MustCompile(`\s+`)

// description is the text openapi-gen prints after a value: the comment
// without a leading constant name, whitespace collapsed. Like openapi-gen
// (kube-openapi's enum.go joins the constant's comment lines as they are),
// it keeps tag lines such as "+featureGate=X": only the field's own
// comment lines lose their tags upstream.
func (v enumValue) description() string {
	c := strings.TrimSpace(v.comment)
	c = strings.TrimPrefix(c, v.name)
	c = strings.TrimSpace(c)
	return whitespace.ReplaceAllString(c, " ")
}

func render(enums map[typeKey][]enumValue, version string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("// Code generated by gen-openapi-enums. DO NOT EDIT.\n\n")
	b.WriteString("package openapi\n\n")
	from := apiModule
	if version != "" {
		from += " " + version
	}
	fmt.Fprintf(&b, "// enumTypes lists the values of the string types of %s marked +enum,\n", from)
	b.WriteString("// by package path and type name, with the doc comments of their constants.\n")
	b.WriteString("// The values are in upstream's order (sorted as Go string literals).\n")
	b.WriteString("var enumTypes = map[string][]enumValue{\n")
	keys := slices.SortedFunc(maps.Keys(enums), func(a, b typeKey) int { return cmp.Compare(a.String(), b.String()) })
	for _, k := range keys {
		values := enums[k]
		if len(values) == 0 {
			continue // upstream then writes neither values nor paragraph
		}
		slices.SortFunc(values, func(a, b enumValue) int { return cmp.Compare(strconv.Quote(a.value), strconv.Quote(b.value)) })
		fmt.Fprintf(&b, "\t%q: {\n", k.String())
		for _, v := range values {
			fmt.Fprintf(&b, "\t\t{%q, %q},\n", v.value, v.description())
		}
		b.WriteString("\t},\n")
	}
	b.WriteString("}\n")
	src, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("formatting the output: %w", err)
	}
	return src, nil
}
