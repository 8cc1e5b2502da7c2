// The operations a frontend or a script needs, typed from the schema. Shared by the web page and the batch script.
import { graphql } from './graphql.ts';

export const ImageFields = graphql(`
  fragment ImageFields on Image {
    id
    url
    width
    height
    mime
  }
`);

export const RunSummary = graphql(
  `
    fragment RunSummary on Run {
      id
      status
      engine
      queuePosition
      queuedAt
      startedAt
      finishedAt
      totalSteps
      lastStep
      width
      height
      content {
        ...ImageFields
      }
      result {
        ...ImageFields
      }
      styles {
        name
        weight
        image {
          ...ImageFields
        }
      }
      styleModel {
        name
        title
      }
      preset {
        name
      }
      params {
        size
        steps
        optimizer
        contentWeight
        styleWeight
        tvWeight
        preserveColors
        scales
      }
      fastParams {
        styleModel
        size
        strength
        preserveColors
      }
      losses {
        content
        style
        tv
        total
      }
      quality {
        style
        content
      }
      error {
        code
        message
      }
    }
  `,
  [ImageFields],
);

export const Catalog = graphql(
  `
    query Catalog {
      styles {
        id
        name
        tags
        image {
          ...ImageFields
        }
      }
      styleModels {
        id
        name
        title
        architecture
        available
        preview {
          ...ImageFields
        }
      }
      presets {
        id
        name
        engine
        builtIn
        params {
          size
          steps
        }
        fastParams {
          styleModel
          size
        }
      }
      engine {
        backend
        threads
        maxOutputPixels
      }
    }
  `,
  [ImageFields],
);

export const UploadStyle = graphql(`
  mutation UploadStyle($input: UploadStyleInput!) {
    uploadStyle(input: $input) {
      __typename
      ... on Style {
        id
        name
      }
      ... on Error {
        code
        message
      }
    }
  }
`);

export const StartTransfer = graphql(
  `
    mutation StartTransfer($input: StartTransferInput!) {
      startTransfer(input: $input) {
        __typename
        ... on Run {
          ...RunSummary
        }
        ... on Error {
          code
          message
        }
        ... on InputError {
          field
          validValues
        }
      }
    }
  `,
  [RunSummary],
);

export const CancelRun = graphql(`
  mutation CancelRun($id: ID!) {
    cancelRun(id: $id) {
      __typename
      ... on Run {
        id
        status
        lastStep
      }
      ... on Error {
        code
        message
      }
    }
  }
`);

export const RunDetails = graphql(
  `
    query RunDetails($id: ID!) {
      run(id: $id) {
        ...RunSummary
        steps {
          step
          scale
          contentLoss
          styleLoss
          tvLoss
          totalLoss
          ms
        }
        previews {
          step
          image {
            ...ImageFields
          }
        }
      }
    }
  `,
  [RunSummary, ImageFields],
);

export const History = graphql(
  `
    query History($first: Int!, $after: String, $status: [RunStatus!]) {
      runs(first: $first, after: $after, status: $status) {
        totalCount
        pageInfo {
          hasNextPage
          endCursor
        }
        edges {
          node {
            ...RunSummary
          }
        }
      }
    }
  `,
  [RunSummary],
);

export const RunEvents = graphql(
  `
    subscription RunEvents($runId: ID!) {
      runEvents(runId: $runId) {
        __typename
        ... on RunSnapshot {
          status
          queuePosition
          lastStep {
            step
          }
          run {
            ...RunSummary
          }
        }
        ... on RunStatusChanged {
          status
          queuePosition
        }
        ... on RunStepAdded {
          totalSteps
          step {
            step
            scale
            contentLoss
            styleLoss
            tvLoss
            totalLoss
            ms
          }
        }
        ... on RunPreviewAdded {
          dataUrl
          preview {
            step
            image {
              ...ImageFields
            }
          }
        }
        ... on RunDownloadProgress {
          receivedBytes
          totalBytes
        }
        ... on RunEnded {
          status
          run {
            ...RunSummary
          }
        }
      }
    }
  `,
  [RunSummary, ImageFields],
);

export const CreatePreset = graphql(`
  mutation CreatePreset($input: CreatePresetInput!) {
    createPreset(input: $input) {
      __typename
      ... on Preset {
        id
        name
      }
      ... on Error {
        code
        message
      }
      ... on InputError {
        field
        validValues
      }
    }
  }
`);

export const UpdatePreset = graphql(`
  mutation UpdatePreset($id: ID!, $input: UpdatePresetInput!) {
    updatePreset(id: $id, input: $input) {
      __typename
      ... on Preset {
        id
        name
      }
      ... on Error {
        code
        message
      }
      ... on InputError {
        field
        validValues
      }
    }
  }
`);

// For the web page (client-example/web).

/** Steps after the ones a view already shows, and the previews: fills the gap a (re)subscription's snapshot reveals. */
export const RunStepsAfter = graphql(
  `
    query RunStepsAfter($id: ID!, $after: Int!) {
      run(id: $id) {
        id
        steps(after: $after) {
          step
          scale
          contentLoss
          styleLoss
          tvLoss
          totalLoss
          ms
        }
        previews {
          step
          image {
            ...ImageFields
          }
        }
      }
    }
  `,
  [ImageFields],
);

/** A page of the history with each run's total-loss curve (for the list's small charts) in the same request. */
export const HistoryWithCurves = graphql(
  `
    query HistoryWithCurves($first: Int!, $after: String) {
      runs(first: $first, after: $after) {
        totalCount
        pageInfo {
          hasNextPage
          endCursor
        }
        edges {
          node {
            ...RunSummary
            steps {
              step
              totalLoss
            }
          }
        }
      }
    }
  `,
  [RunSummary],
);

/** Fetches a catalogue model if needed and renders its preview (the sample scene in its style). */
export const PrepareStyleModel = graphql(
  `
    mutation PrepareStyleModel($id: ID!) {
      prepareStyleModel(id: $id) {
        __typename
        ... on StyleModel {
          id
          available
          preview {
            ...ImageFields
          }
        }
        ... on Error {
          code
          message
        }
      }
    }
  `,
  [ImageFields],
);
