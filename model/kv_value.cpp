// Placeholder: the storage helper writes this file.
