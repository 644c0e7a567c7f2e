-- +goose Up
-- Template variables: the Terraform `variable` blocks of a template's root
-- module, set once per version at push (parameters are set per build).
--
-- The values given at push (pushed_variable_values) and those kept from the
-- template's active version (previous_variable_values), JSON arrays of
-- {"name","value"}, wait on the version until its import reads the
-- declarations; the import then stores one row per declared variable, with
-- the value set for it (NULL: none, its default applies), and empties both.
-- Sensitive values are stored for builds and never returned by the API.
ALTER TABLE template_versions
    ADD COLUMN pushed_variable_values jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN previous_variable_values jsonb NOT NULL DEFAULT '[]';

CREATE TABLE template_version_variables (
    template_version_id uuid NOT NULL REFERENCES template_versions (id) ON DELETE CASCADE,
    name                text NOT NULL,
    description         text NOT NULL DEFAULT '',
    type                text NOT NULL DEFAULT 'string',
    value               text,
    default_value       text NOT NULL DEFAULT '',
    required            boolean NOT NULL DEFAULT false,
    sensitive           boolean NOT NULL DEFAULT false,
    PRIMARY KEY (template_version_id, name)
);

-- +goose Down
DROP TABLE template_version_variables;
ALTER TABLE template_versions
    DROP COLUMN pushed_variable_values,
    DROP COLUMN previous_variable_values;
