"""Corrections an operator makes to matching, kept beside the enrolled gallery, never inside it:
`negatives` holds the faces someone said are NOT a person, which matching then refuses."""
