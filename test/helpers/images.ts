// The sample-image builders live in src/ because the demo uses them too.
export * from '../../src/django/sample-images.ts';
