"""Reading finished runs: load (runs), compare, gate, export, render (tables, console), plots."""
