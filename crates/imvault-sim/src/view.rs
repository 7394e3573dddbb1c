//! The merged read model: the lazy base corpus seen through one library's overlay. Every query
//! is O(page) or O(one workspace), never O(library).

use std::ops::ControlFlow;

use serde_json::{Map, Value, json};

use crate::wire::{ContainerKind, DefaultSecurity};

use super::corpus::{
    self, BaseDoc, BaseWorkspace, CONT_BASE, LibLayout, SLOTS, WsTree, base_acl, container_dates,
    container_owner, ws_tree,
};
use super::state::{AclState, DocOverlay, LibOverlay, NewDoc};

/// One library at one moment: its layout and a read view of its overlay.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub seed: u64,
    pub lib: &'a LibLayout,
    pub ov: &'a LibOverlay,
}

/// A container ready to render.
#[derive(Debug, Clone)]
pub struct ContainerView {
    pub number: u64,
    pub kind: ContainerKind,
    pub name: String,
    pub description: String,
    pub parent: Option<u64>,
    pub workspace: Option<u64>,
    pub owner: String,
    pub default_security: DefaultSecurity,
    pub create: i64,
    pub edit: i64,
    pub has_subfolders: bool,
    pub has_documents: bool,
    pub profile: Map<String, Value>,
}

/// A document (all its versions) ready to render.
#[derive(Debug, Clone)]
pub struct DocView<'a> {
    pub number: u64,
    pub base: Option<BaseDoc>,
    pub new: Option<&'a NewDoc>,
    pub ov: Option<&'a DocOverlay>,
    pub workspace: u64,
    /// Every folder it is filed in, the first being its home.
    pub parents: Vec<u64>,
}

impl DocView<'_> {
    /// Present versions, ascending.
    pub fn versions(&self) -> Vec<u32> {
        let mut v: Vec<u32> = match &self.base {
            Some(b) => (1..=b.max_version).filter(|&v| b.has_version(v)).collect(),
            None => Vec::new(),
        };
        if let Some(ov) = self.ov {
            v.extend(ov.added.keys().copied());
        }
        v
    }
    pub fn latest(&self) -> Option<u32> {
        let added = self.ov.and_then(|o| o.added.keys().next_back().copied());
        added.or_else(|| self.base.as_ref().map(|b| b.max_version))
    }
    pub fn has_version(&self, v: u32) -> bool {
        self.base.as_ref().is_some_and(|b| b.has_version(v))
            || self.ov.is_some_and(|o| o.added.contains_key(&v))
    }
    pub fn trashed(&self) -> bool {
        self.ov.is_some_and(|o| o.trashed.is_some())
    }
}

fn profile_of_ws(ws: &BaseWorkspace, author: &str) -> Map<String, Value> {
    let mut p = Map::new();
    p.insert("class".into(), json!("MATTER"));
    p.insert("subclass".into(), Value::Null);
    p.insert("author".into(), json!(author));
    p.insert("custom1".into(), json!(ws.client_code));
    p.insert("custom2".into(), json!(ws.matter_code));
    p
}

impl<'a> Ctx<'a> {
    pub fn tree(&self, w: u64) -> WsTree {
        ws_tree(self.seed, self.lib, w)
    }

    fn new_children_of(&self, n: u64) -> &'a [u64] {
        self.ov
            .new_children
            .get(&n)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    fn has_new_kind(&self, n: u64, docs: bool) -> bool {
        self.new_children_of(n).iter().any(|c| {
            if docs {
                self.ov.docs.get(c).is_some_and(|d| d.trashed.is_none())
            } else {
                self.ov.containers.contains_key(c)
            }
        })
    }

    /// Any container (workspace, tab, folder, search folder) by number.
    pub fn container(&self, n: u64) -> Option<ContainerView> {
        if let Some((w, j)) = self.lib.container_slot(n) {
            let tree = self.tree(w);
            return self.base_container(&tree, j);
        }
        if self.ov.deleted_containers.contains(&n) {
            return None;
        }
        let nc = self.ov.containers.get(&n)?.new.as_ref()?;
        let acl = self.container_acl(n);
        Some(ContainerView {
            number: n,
            kind: nc.kind,
            name: nc.name.clone(),
            description: nc.description.clone(),
            parent: nc.parent,
            workspace: nc.workspace.or(Some(n)),
            owner: nc.owner.clone(),
            default_security: acl.default_security,
            create: nc.created,
            edit: nc.created,
            has_subfolders: self.has_new_kind(n, false),
            has_documents: self.has_new_kind(n, true),
            profile: nc.profile.clone(),
        })
    }

    /// A base container from its workspace tree (slot 0 is the workspace).
    pub fn base_container(&self, tree: &WsTree, j: u64) -> Option<ContainerView> {
        let w = tree.w;
        let lib = self.lib;
        let n = lib.container_number(w, j);
        if self.ov.deleted_containers.contains(&n) {
            return None;
        }
        let ws_n = lib.ws_number(w);
        let ws = BaseWorkspace::new(self.seed, lib, w);
        let (create, edit) = container_dates(self.seed, lib, n);
        let owner = container_owner(self.seed, lib, n).to_string();
        let acl = self.container_acl(n);
        let mut profile = profile_of_ws(&ws, &owner);
        if j == 0 {
            return Some(ContainerView {
                number: n,
                kind: ContainerKind::Workspace,
                name: format!("{} – {}", ws.client, ws.matter),
                description: format!("{} / {}", ws.client_code, ws.matter_code),
                parent: None,
                workspace: Some(n),
                owner,
                default_security: acl.default_security,
                create,
                edit,
                has_subfolders: true,
                has_documents: false,
                profile,
            });
        }
        let node = tree.node(j)?;
        profile.insert("class".into(), json!("FOLDER"));
        let fill = if node.holds_documents() {
            corpus::Corpus::fill_of(self.seed, lib, w, j)
        } else {
            0
        };
        Some(ContainerView {
            number: n,
            kind: node.kind,
            name: node.name.to_string(),
            description: match node.kind {
                ContainerKind::SearchFolder => "class:DOC AND subclass:AGREEMENT".to_string(),
                _ => String::new(),
            },
            parent: Some(lib.container_number(w, node.parent)),
            workspace: Some(ws_n),
            owner,
            default_security: acl.default_security,
            create,
            edit,
            has_subfolders: tree.children(j).next().is_some() || self.has_new_kind(n, false),
            has_documents: fill > 0 || self.has_new_kind(n, true),
            profile,
        })
    }

    pub fn container_acl(&self, n: u64) -> AclState {
        if let Some(a) = self.ov.containers.get(&n).and_then(|c| c.acl.clone()) {
            return a;
        }
        let object = match self.lib.container_slot(n) {
            Some((_, 0)) => 1,
            _ => 2,
        };
        base_acl(self.seed, self.lib, object, n).into()
    }

    pub fn doc_acl(&self, n: u64) -> AclState {
        if let Some(a) = self.ov.docs.get(&n).and_then(|d| d.acl.clone()) {
            return a;
        }
        base_acl(self.seed, self.lib, 0, n).into()
    }

    pub fn workspace_count(&self) -> u64 {
        self.lib.n_ws + self.ov.new_workspaces.len() as u64
    }

    /// The workspace at listing position `pos` (base first, then new ones).
    pub fn workspace_at(&self, pos: u64) -> Option<ContainerView> {
        if pos < self.lib.n_ws {
            return self.container(self.lib.ws_number(pos));
        }
        let n = *self
            .ov
            .new_workspaces
            .get(usize::try_from(pos - self.lib.n_ws).ok()?)?;
        self.container(n)
    }

    /// Direct child containers of a workspace or folder (in listing order).
    pub fn child_containers(&self, parent: &ContainerView) -> Vec<ContainerView> {
        let mut out = Vec::new();
        if let Some((w, j)) = self.lib.container_slot(parent.number) {
            let tree = self.tree(w);
            for node in tree.children(j) {
                if let Some(c) = self.base_container(&tree, node.slot) {
                    out.push(c);
                }
            }
        }
        for &c in self.new_children_of(parent.number) {
            if self.ov.containers.contains_key(&c)
                && let Some(cv) = self.container(c)
            {
                out.push(cv);
            }
        }
        out
    }

    /// Documents filed directly in a folder or tab (not trashed), in listing order.
    pub fn child_documents(&self, folder: &ContainerView) -> Vec<DocView<'a>> {
        let mut out = Vec::new();
        if !matches!(folder.kind, ContainerKind::Folder | ContainerKind::Tab) {
            return out;
        }
        if let Some((w, j)) = self.lib.container_slot(folder.number) {
            let tree = self.tree(w);
            let g = w * SLOTS + j;
            for k in 0..corpus::Corpus::fill_of(self.seed, self.lib, w, j) {
                if let Some(d) = self.doc_in(&tree, g, k) {
                    out.push(d);
                }
            }
            if let Some(prev) = tree.prev_holder(j) {
                let pg = w * SLOTS + prev;
                for k in 0..corpus::Corpus::fill_of(self.seed, self.lib, w, prev) {
                    if let Some(d) = self.doc_in(&tree, pg, k)
                        && d.parents.contains(&folder.number)
                    {
                        out.push(d);
                    }
                }
            }
        }
        for &c in self.new_children_of(folder.number) {
            if self.ov.docs.contains_key(&c)
                && let Some(d) = self.doc(c)
            {
                out.push(d);
            }
        }
        out.retain(|d| !d.trashed());
        out
    }

    fn doc_in(&self, tree: &WsTree, g: u64, k: u64) -> Option<DocView<'a>> {
        let lib = self.lib;
        let (w, j) = (g / SLOTS, g % SLOTS);
        let node = tree.node(j)?;
        if !node.holds_documents() || k >= corpus::Corpus::fill_of(self.seed, lib, w, j) {
            return None;
        }
        let n = lib.doc_number(g, k);
        let base = BaseDoc::new(self.seed, lib, n, w, j);
        let mut parents = vec![lib.container_number(w, j)];
        if base.multi_filed
            && let Some(next) = tree.next_holder(j)
        {
            parents.push(lib.container_number(w, next));
        }
        Some(DocView {
            number: n,
            base: Some(base),
            new: None,
            ov: self.ov.docs.get(&n),
            workspace: lib.ws_number(w),
            parents,
        })
    }

    /// A document by number, trashed ones included (check [`DocView::trashed`]).
    pub fn doc(&self, n: u64) -> Option<DocView<'a>> {
        if self.ov.docs.get(&n).is_some_and(|o| o.purged) {
            return None;
        }
        if let Some((g, k)) = self.lib.doc_slot(n) {
            let tree = self.tree(g / SLOTS);
            return self.doc_in(&tree, g, k);
        }
        let ov = self.ov.docs.get(&n)?;
        let new = ov.new.as_ref()?;
        Some(DocView {
            number: n,
            base: None,
            new: Some(new),
            ov: Some(ov),
            workspace: new.workspace,
            parents: vec![new.folder],
        })
    }

    /// Visit containers with number ≥ `start`, ascending. `workspaces` chooses workspaces
    /// (true) or the other containers (false).
    pub fn for_each_container_from(
        &self,
        start: u64,
        workspaces: bool,
        only_overlay: bool,
        mut f: impl FnMut(ContainerView) -> ControlFlow<()>,
    ) {
        let lib = self.lib;
        let cont_end = CONT_BASE + lib.n_ws * SLOTS;
        if !only_overlay && start < cont_end {
            let first = start.max(CONT_BASE);
            let (mut w, mut j) = ((first - CONT_BASE) / SLOTS, (first - CONT_BASE) % SLOTS);
            while w < lib.n_ws {
                let tree = self.tree(w);
                if workspaces {
                    if j == 0
                        && let Some(c) = self.base_container(&tree, 0)
                        && f(c).is_break()
                    {
                        return;
                    }
                } else {
                    for node in tree.nodes.iter().filter(|n| n.slot >= j.max(1)) {
                        if let Some(c) = self.base_container(&tree, node.slot)
                            && f(c).is_break()
                        {
                            return;
                        }
                    }
                }
                w += 1;
                j = 0;
            }
        }
        for (&n, c) in self.ov.containers.range(start..) {
            let Some(nc) = &c.new else { continue };
            if (nc.kind == ContainerKind::Workspace) != workspaces {
                continue;
            }
            if let Some(cv) = self.container(n)
                && f(cv).is_break()
            {
                return;
            }
        }
    }

    /// Visit live (not trashed) documents with number ≥ `start`, ascending. With
    /// `only_overlay`, only documents the overlay touched (all base dates are older than any
    /// overlay change, so a recent `edit_date_from` needs nothing else).
    pub fn for_each_doc_from(
        &self,
        start: u64,
        only_overlay: bool,
        mut f: impl FnMut(DocView<'a>) -> ControlFlow<()>,
    ) {
        if only_overlay {
            for (&n, _) in self.ov.docs.range(start..) {
                if let Some(d) = self.doc(n)
                    && !d.trashed()
                    && f(d).is_break()
                {
                    return;
                }
            }
            return;
        }
        let lib = self.lib;
        if let Some((mut g, mut k)) = self.lib.doc_slot(start.max(lib.doc_base)) {
            let total = lib.n_ws * SLOTS;
            let mut tree: Option<WsTree> = None;
            while g < total {
                let (w, j) = (g / SLOTS, g % SLOTS);
                if tree.as_ref().is_none_or(|t| t.w != w) {
                    tree = Some(self.tree(w));
                }
                let Some(t) = tree.as_ref() else { break };
                let fill = match t.node(j) {
                    Some(node) if node.holds_documents() => {
                        corpus::Corpus::fill_of(self.seed, lib, w, j)
                    }
                    _ => 0,
                };
                while k < fill {
                    if let Some(d) = self.doc_in(t, g, k)
                        && !d.trashed()
                        && f(d).is_break()
                    {
                        return;
                    }
                    k += 1;
                }
                g += 1;
                k = 0;
            }
        }
        for (&n, d) in self.ov.docs.range(start.max(lib.doc_end())..) {
            if d.new.is_none() || d.trashed.is_some() {
                continue;
            }
            if let Some(dv) = self.doc(n)
                && f(dv).is_break()
            {
                return;
            }
        }
    }
}
