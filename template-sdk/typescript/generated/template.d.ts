/// <reference path="./interfaces/transflow-template-ffmpeg.d.ts" />
/// <reference path="./interfaces/transflow-template-log.d.ts" />
/// <reference path="./interfaces/transflow-template-pipeline.d.ts" />
/// <reference path="./interfaces/transflow-template-status.d.ts" />
/// <reference path="./interfaces/transflow-template-types.d.ts" />
/// <reference path="./interfaces/transflow-template-workspace.d.ts" />
declare module 'transflow:template/template@0.1.1' {
  export type * as TransflowTemplateFfmpeg011 from 'transflow:template/ffmpeg@0.1.1'; // import transflow:template/ffmpeg@0.1.1
  export type * as TransflowTemplateLog011 from 'transflow:template/log@0.1.1'; // import transflow:template/log@0.1.1
  export type * as TransflowTemplateStatus011 from 'transflow:template/status@0.1.1'; // import transflow:template/status@0.1.1
  export type * as TransflowTemplateTypes011 from 'transflow:template/types@0.1.1'; // import transflow:template/types@0.1.1
  export type * as TransflowTemplateWorkspace011 from 'transflow:template/workspace@0.1.1'; // import transflow:template/workspace@0.1.1
  export * as pipeline from 'transflow:template/pipeline@0.1.1'; // export transflow:template/pipeline@0.1.1
}
