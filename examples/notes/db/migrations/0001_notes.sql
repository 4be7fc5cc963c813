-- The schema every environment needs. Previews already have it from the seed; production's
-- database starts empty, so this is where its table comes from.
CREATE TABLE IF NOT EXISTS notes (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  body text NOT NULL
);
