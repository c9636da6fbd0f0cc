"""Files evalkit writes: folders it owns (never a user's file) and its temporary folders."""
