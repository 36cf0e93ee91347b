"""The course: helpers the step notebooks call (`kit`), the rescue for a stuck student
(`catchup`), the student edition (`assign`) and grading a class (`grade`, `runner`,
`feedback`)."""
