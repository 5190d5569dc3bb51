"""Data quality: the rule catalogue run over the lake, facility scores and the verification
reports that go back to each facility (`phip quality`)."""
