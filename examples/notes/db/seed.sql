-- What every preview starts with: toss runs this once into the app's template database (again
-- only when this file changes), and each preview's database is a copy of that template.
CREATE TABLE notes (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  body text NOT NULL
);

INSERT INTO notes (body) VALUES ('seed 1'), ('seed 2'), ('seed 3');
