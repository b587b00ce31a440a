# Cython declarations for adf.py (augmenting .pxd, used only when compiled, see setup.py):
# the writer as an extension type, so its per-node method calls skip attribute lookups.

cdef class _Writer:
    cdef public list parts
    cdef public str pending
    cdef public bint line_start

    cdef _flush(self)
    cdef text(self, text)
    cdef spaced_text(self, text)
    cdef marker(self, text)
    cdef block_break(self, in_cell)
    cpdef render(self, root)
    cdef _node(self, dict node, indent, in_cell, push)
    cdef _text_block(self, children, indent, in_cell, push)
    cdef bint _inline(self, dict node, kind, in_cell)
    cdef _text_node(self, dict node)
    cdef _link_marks(self, marks, text)
    cdef _list(self, kind, dict attrs, children, indent, in_cell, push)
