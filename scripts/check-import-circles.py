#!/usr/bin/env python3
"""Import circles inside a crate: edges A -> B for every `crate::`/`super::`/`self::` path
(and, in a module with children, paths starting with a child's name) found in A's code,
tests included; prints every strongly connected component of more than one module."""
import os, re, sys
root = sys.argv[1]  # e.g. host-train/src
crates = {'lib': 'lib.rs', 'bin': 'main.rs'}
def modpath(rel):
    p = rel[:-3].split('/')
    if p[-1] == 'mod': p = p[:-1]
    return tuple(p)
files = {}
for d, _, fs in os.walk(root):
    for f in fs:
        if f.endswith('.rs'):
            rel = os.path.relpath(os.path.join(d, f), root)
            files[rel] = open(os.path.join(d, f)).read()
def crate_of(rel, text):
    return None
# the bin crate: main.rs plus the modules it declares
bin_mods = set(re.findall(r'^\s*mod\s+(\w+)\s*;', files.get('main.rs',''), re.M))
mods = {}
for rel, text in files.items():
    mp = modpath(rel)
    if rel == 'main.rs': mods[('bin',)] = text; continue
    if rel == 'lib.rs': mods[('lib',)] = text; continue
    if mp[0] in bin_mods: mods[('bin',) + mp] = text
    else: mods[('lib',) + mp] = text
known = set(mods)
def resolve(base, parts):
    # longest prefix of base+parts that is a known module
    full = base + tuple(parts)
    for n in range(len(full), 0, -1):
        if full[:n] in known: return full[:n]
    return None
edges = {m: set() for m in mods}
for m, text in mods.items():
    text = re.sub(r'//.*', '', text)
    # In an inline test module (`mod tests { use super::*; }`) `super` is this file's module.
    t_at = re.search(r'^\s*mod tests\s*\{', text, re.M)
    if t_at:
        tests = text[t_at.start():]
        text = text[:t_at.start()] + re.sub(r'\bsuper::(super::)?', 'self::', tests)
    krate = m[:1]
    is_dir = any(k[:-1] == m for k in known)
    for mt in re.finditer(r'\b(crate|super|self)((?:::\w+)+)', text):
        head, rest = mt.group(1), mt.group(2).split('::')[1:]
        if head == 'crate': base = krate
        elif head == 'super': base = m[:-1]
        else: base = m
        t = resolve(base, rest)
        if t and t != m: edges[m].add(t)
    # `use child::...` / `child::x` in a parent module
    for k in known:
        if k[:-1] == m:
            if re.search(r'(?<![:\w])' + k[-1] + r'::', text): edges[m].add(k)
    # `use {a, b}` groups: crate::{x::Y, z}
    for mt in re.finditer(r'\b(crate|super)::\{([^}]*)\}', text):
        base = krate if mt.group(1) == 'crate' else m[:-1]
        for item in mt.group(2).split(','):
            t = resolve(base, item.strip().split('::'))
            if t and t != m: edges[m].add(t)
# Tarjan
idx, low, st, on, out, c = {}, {}, [], set(), [], [0]
def sc(v):
    idx[v] = low[v] = c[0]; c[0] += 1; st.append(v); on.add(v)
    for w in edges[v]:
        if w not in idx: sc(w); low[v] = min(low[v], low[w])
        elif w in on: low[v] = min(low[v], idx[w])
    if low[v] == idx[v]:
        comp = []
        while True:
            w = st.pop(); on.discard(w); comp.append(w)
            if w == v: break
        out.append(comp)
for v in sorted(edges): 
    if v not in idx: sc(v)
name = lambda m: '::'.join(m)
if '-v' in sys.argv:
    for m in sorted(edges): print(name(m), '->', ', '.join(sorted(name(t) for t in edges[m])))
circles = [c for c in out if len(c) > 1]
for c in circles: print('CIRCLE:', ' <-> '.join(sorted(name(m) for m in c)))
print(f'{root}: {len(mods)} modules, {sum(len(e) for e in edges.values())} edges, {len(circles)} circles')
sys.exit(1 if circles else 0)
