/** @abus-tumor-ai/viewer: the demo viewer's server, its generated study and the model's answer on it. */
export * from './server';
export * from './demo-study';
export * from './demo-answer';
